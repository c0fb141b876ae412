import type { BreakerSnapshot } from "../../durable-objects/provider-breaker";
import type { BudgetBurn } from "../reports/budget-burn";
import type { AlertRow, DeadLetterRow } from "./dashboard-data";
import { formatPercent, formatTime, formatUsd } from "./dashboard-format";

/**
 * Panels drawn on the server as HTML and SVG: lists and bars need no chart library, and SVG attributes
 * (unlike inline styles) pass the page's strict CSP.
 */
export function BudgetBurnPanel(props: { budgets: BudgetBurn[]; tenantNames: Map<string, string> }) {
  return (
    <article class="panel" id="panel-budgets" data-rows={String(props.budgets.length)}>
      <h2>Budget burn</h2>
      <p class="panel-note">Settled spend in the current UTC period against each limit; ticks mark alert, degrade and throttle.</p>
      {props.budgets.length === 0 ? (
        <p class="empty">No budgets configured.</p>
      ) : (
        <ul class="burn-list">
          {props.budgets.map((b) => {
            const name = b.tenant_name ?? props.tenantNames.get(b.tenant_id) ?? b.tenant_id;
            const width = Math.min(1, b.fraction) * 100;
            return (
              <li class={`burn burn-${b.state}`}>
                <div class="burn-label">
                  <strong>{name}</strong>
                  <span class="muted">
                    {b.scope} · {b.period}
                  </span>
                  <span class="burn-figures">
                    {formatUsd(b.spent_usd)} of {formatUsd(b.limit_usd)} · {formatPercent(b.fraction)}
                  </span>
                </div>
                <svg class="burn-bar" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label={`${name} ${b.scope} ${b.period}: ${formatPercent(b.fraction)} of limit, ${b.state}`}>
                  <rect class="burn-track" x="0" y="0" width="100" height="8" />
                  <rect class="burn-fill" x="0" y="0" width={width.toFixed(2)} height="8" />
                  {[b.thresholds.alert, b.thresholds.degrade, b.thresholds.throttle].map((t) => (
                    <line class="burn-tick" x1={(t * 100).toFixed(2)} x2={(t * 100).toFixed(2)} y1="0" y2="8" />
                  ))}
                </svg>
              </li>
            );
          })}
        </ul>
      )}
    </article>
  );
}

export function BreakerPanel(props: { breakers: BreakerSnapshot[] | null }) {
  const breakers = props.breakers;
  return (
    <article class="panel" id="panel-breakers" data-rows={String(breakers?.length ?? 0)}>
      <h2>Provider breakers</h2>
      {breakers === null ? (
        <p class="empty">Breaker state is unavailable right now.</p>
      ) : (
        <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Provider:model</th>
              <th>State</th>
              <th class="num">Failure rate</th>
              <th class="num">Recent calls</th>
              <th>Retry at</th>
            </tr>
          </thead>
          <tbody>
            {breakers.map((b) => (
              <tr>
                <td>{b.key}</td>
                <td>
                  <span class={`badge badge-${b.state}`}>{b.state.replace("_", "-")}</span>
                </td>
                <td class="num">{formatPercent(b.failureRate)}</td>
                <td class="num">{b.requests}</td>
                <td>{b.state === "closed" ? "–" : formatTime(b.retryAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
    </article>
  );
}

export function DeadLetterPanel(props: { total: number; recent: DeadLetterRow[]; tenantNames: Map<string, string> }) {
  return (
    <article class="panel" id="panel-dead-letters" data-rows={String(props.recent.length)}>
      <h2>
        Dead letters <span class="count">{props.total}</span>
      </h2>
      {props.recent.length === 0 ? (
        <p class="empty">No dead letters in this range.</p>
      ) : (
        <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th>When</th>
              <th>Queue</th>
              <th>Tenant</th>
              <th>Reason</th>
              <th class="num">Attempts</th>
              <th>Replayed</th>
            </tr>
          </thead>
          <tbody>
            {props.recent.map((d) => (
              <tr>
                <td>{formatTime(d.created_at)}</td>
                <td>{d.queue.replace(/^tollgate-/, "")}</td>
                <td>{d.tenant_id ? (props.tenantNames.get(d.tenant_id) ?? d.tenant_id) : "–"}</td>
                <td class="clip" title={d.reason}>
                  {d.reason}
                </td>
                <td class="num">{d.attempts}</td>
                <td>{d.replayed_at ? "yes" : "no"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
    </article>
  );
}

export function AlertPanel(props: { total: number; recent: AlertRow[]; tenantNames: Map<string, string> }) {
  return (
    <article class="panel" id="panel-alerts" data-rows={String(props.recent.length)}>
      <h2>
        Recent alerts <span class="count">{props.total}</span>
      </h2>
      {props.recent.length === 0 ? (
        <p class="empty">No alerts in this range.</p>
      ) : (
        <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th>When</th>
              <th>Tenant</th>
              <th>Kind</th>
              <th>Scope</th>
              <th class="num">Spent / limit</th>
              <th>Delivered</th>
            </tr>
          </thead>
          <tbody>
            {props.recent.map((a) => (
              <tr>
                <td>{formatTime(a.created_at)}</td>
                <td>{props.tenantNames.get(a.tenant_id) ?? a.tenant_id}</td>
                <td>
                  {a.kind} {a.kind === "threshold" ? formatPercent(a.threshold) : ""}
                </td>
                <td>
                  {a.scope} · {a.period}
                </td>
                <td class="num">
                  {formatUsd(a.spent_usd)} / {formatUsd(a.limit_usd)}
                </td>
                <td>{a.delivered_at ? "yes" : "pending"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
    </article>
  );
}
