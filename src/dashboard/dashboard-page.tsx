import { dayKey, DAY_MS, startOfDay } from "../reports/report-range";
import type { DashboardData } from "./dashboard-data";
import { formatCount, formatPercent, formatUsd } from "./dashboard-format";
import { AlertPanel, BreakerPanel, BudgetBurnPanel, DeadLetterPanel } from "./ops-panels";
import { PageLayout } from "./page-layout";

const QUICK_RANGES = [
  { label: "Today", days: 1 },
  { label: "7 days", days: 7 },
  { label: "30 days", days: 30 },
  { label: "90 days", days: 90 },
];

function Kpi(props: { id: string; label: string; value: string; hint?: string }) {
  return (
    <div class="kpi" id={`kpi-${props.id}`}>
      <span class="kpi-label">{props.label}</span>
      <span class="kpi-value">{props.value}</span>
      {props.hint ? <span class="kpi-hint">{props.hint}</span> : null}
    </div>
  );
}

function Filters(props: { data: DashboardData; now: number }) {
  const { filters, tenants } = props.data;
  const from = dayKey(filters.range.from);
  const to = dayKey(filters.range.to - 1);
  const today = dayKey(props.now);
  const tenantParam = filters.tenant ? `&tenant=${encodeURIComponent(filters.tenant)}` : "";
  return (
    <form class="filters" method="get" action="/dashboard" id="filters">
      <label>
        Tenant
        <select name="tenant" id="filter-tenant">
          <option value="">All tenants</option>
          {tenants.map((t) => (
            <option value={t.id} selected={t.id === filters.tenant}>
              {t.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        From
        <input type="date" name="from" id="filter-from" value={from} max={today} required />
      </label>
      <label>
        To
        <input type="date" name="to" id="filter-to" value={to} required />
      </label>
      <button type="submit" id="filter-apply">
        Apply
      </button>
      <nav class="quick" aria-label="Quick ranges">
        {QUICK_RANGES.map((q) => (
          <a href={`/dashboard?from=${dayKey(startOfDay(props.now) - (q.days - 1) * DAY_MS)}&to=${today}${tenantParam}`}>{q.label}</a>
        ))}
      </nav>
    </form>
  );
}

function ChartPanel(props: { id: string; title: string; note: string; wide?: boolean }) {
  return (
    <article class={props.wide ? "panel wide" : "panel"} id={`panel-${props.id}`}>
      <h2>{props.title}</h2>
      <p class="panel-note">{props.note}</p>
      <div class="chart" data-chart={props.id} role="img" aria-label={props.title}></div>
    </article>
  );
}

/** `csrfToken` is the session's token: every write the page makes (today only sign-out) sends it back. */
export function renderDashboardPage(data: DashboardData, session: { csrfToken: string }, now = Date.now()) {
  const t = data.totals;
  const names = new Map(data.tenants.map((x) => [x.id, x.name]));
  const tenantName = data.filters.tenant ? (names.get(data.filters.tenant) ?? data.filters.tenant) : "All tenants";
  return (
    <PageLayout title="Tollgate · cost dashboard" scripts>
      <header class="top">
        <div class="brand">
          <h1>Tollgate</h1>
          <span class="muted" id="scope-label">
            {tenantName} · {dayKey(data.filters.range.from)} to {dayKey(data.filters.range.to - 1)} (UTC)
          </span>
        </div>
        <Filters data={data} now={now} />
        <form method="post" action="/dashboard/sign-out" class="sign-out">
          <input type="hidden" name="csrf" value={session.csrfToken} />
          <button type="submit" class="link">
            Sign out
          </button>
        </form>
      </header>
      <main>
        <section class="kpis" aria-label="Totals for the selected range">
          <Kpi id="cost" label="Cost" value={formatUsd(t.cost_usd)} hint={t.requests ? `${formatUsd(t.cost_usd / t.requests)} per request` : undefined} />
          <Kpi id="requests" label="Requests" value={formatCount(t.requests)} hint={`${formatCount(t.tokens_in)} in · ${formatCount(t.tokens_out)} out tokens`} />
          <Kpi id="hit-rate" label="Cache hit rate" value={formatPercent(t.cache_hit_rate)} hint={`${formatCount(t.cache_hits.exact)} exact · ${formatCount(t.cache_hits.semantic)} semantic`} />
          <Kpi id="saved" label="Saved by cache" value={formatUsd(t.saved_usd)} />
          <Kpi id="escalations" label="Escalations" value={formatCount(t.escalations)} />
          <Kpi id="errors" label="Errors" value={formatCount(t.errors)} hint={t.requests ? formatPercent(t.errors / t.requests) : undefined} />
          <Kpi id="forecast" label="Projected month" value={formatUsd(data.projectedMonthUsd)} hint="at the last 7 days' rate" />
        </section>
        <section class="grid">
          <ChartPanel id="cost-over-time" title="Cost over time, by tier" note="Daily cost, stacked by model tier." wide />
          <ChartPanel id="cost-by-task" title="Cost by task type" note="Each task's cost in the range, split by tier." />
          <ChartPanel id="cache" title="Cache hit rate and dollars saved" note="Hit rate over requests that consulted the cache; bars are dollars saved." />
          <BudgetBurnPanel budgets={data.budgets} tenantNames={names} />
          <BreakerPanel breakers={data.breakers} />
          <DeadLetterPanel total={data.deadLetters.total} recent={data.deadLetters.recent} tenantNames={names} />
          <AlertPanel total={data.alerts.total} recent={data.alerts.recent} tenantNames={names} />
        </section>
      </main>
      {/* Chart data rides in an attribute: escaped by JSX, read by the client, never executed. */}
      <div id="dashboard-data" hidden data-json={JSON.stringify(data.charts)}></div>
    </PageLayout>
  );
}
