import { DurableObject } from "cloudflare:workers";
import { atLeast, periodEnd, periodKey, projectMonthEnd, retryAfterSeconds, thresholdState, worstState } from "../src/budget/budget-math";
import type { AdmitInput, AdmitResult, BudgetConfig, BudgetStatus, LeaseReport, SettleInput, TopUpInput, TopUpResult } from "../src/budget/budget-types";
import type { Budget } from "../src/config/budget-config";
import { parseLimits } from "../src/config/tenant-policy";
import type { BudgetObjectState, LostSettlement, RepairedSettlement } from "../src/ledger/reconciliation-types";
import { raiseAlerts, type SpendKey, type SpendRow } from "./budget-alerts";
import { BudgetLeases } from "./budget-leases";
import { BudgetReservations } from "./budget-reservations";
import { LedgerOutbox } from "./ledger-outbox";

const WINDOW_MS = 60_000;

/**
 * One per tenant. Every admission is decided and reserved in a single synchronous section over SQLite,
 * so concurrent requests see each other's reservations: the budget cannot be overspent, however many
 * Workers call at once. Settlement swaps a reservation for the actual cost and, when the ledger row
 * rides along, keeps it in an outbox in the same write; an alarm releases reservations whose worker
 * never came back and retries the outbox.
 */
export class TenantBudget extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private config: BudgetConfig | null = null;
  private readonly outbox: LedgerOutbox;
  private readonly leases: BudgetLeases;
  private readonly reservations: BudgetReservations;
  private forwarding: Promise<void> | null = null;
  private forwardAgain = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS config (id INTEGER PRIMARY KEY CHECK (id = 1), tenant_id TEXT NOT NULL, json TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS spend (scope TEXT NOT NULL, period TEXT NOT NULL, period_key TEXT NOT NULL,
        spent REAL NOT NULL DEFAULT 0, reserved REAL NOT NULL DEFAULT 0, PRIMARY KEY (scope, period, period_key));
      CREATE TABLE IF NOT EXISTS rate_log (id TEXT PRIMARY KEY, at INTEGER NOT NULL, tokens INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS rate_log_at ON rate_log(at);
      CREATE TABLE IF NOT EXISTS alerts_sent (scope TEXT NOT NULL, period TEXT NOT NULL, period_key TEXT NOT NULL,
        kind TEXT NOT NULL, threshold REAL NOT NULL, PRIMARY KEY (scope, period, period_key, kind, threshold));
    `);
    this.outbox = new LedgerOutbox(this.sql);
    this.reservations = new BudgetReservations(this.sql, this.bump);
    this.leases = new BudgetLeases(this.sql, this.bump);
  }

  /** Called by the admin API whenever budgets or limits change in D1. */
  async configure(tenantId: string, config: BudgetConfig): Promise<void> {
    this.sql.exec(`INSERT OR REPLACE INTO config (id, tenant_id, json) VALUES (1, ?, ?)`, tenantId, JSON.stringify(config));
    this.config = config;
  }

  /** D1 is the source of truth: an object that was never told its config (or lost it) reads it. */
  private async loadConfig(tenantId: string): Promise<BudgetConfig> {
    if (this.config) return this.config;
    const stored = this.sql.exec<{ json: string }>(`SELECT json FROM config WHERE id = 1`).toArray()[0];
    if (stored) return (this.config = JSON.parse(stored.json) as BudgetConfig);
    const [budgets, tenant] = await Promise.all([
      this.env.DB.prepare("SELECT scope, period, limit_usd, alert_at, degrade_at, throttle_at FROM budgets WHERE tenant_id = ?").bind(tenantId).all<Budget>(),
      this.env.DB.prepare("SELECT limits_json FROM tenants WHERE id = ?").bind(tenantId).first<{ limits_json: string }>(),
    ]);
    const config = { budgets: budgets.results, limits: parseLimits(tenant?.limits_json) };
    await this.configure(tenantId, config);
    return config;
  }

  private applicable(config: BudgetConfig, task: string, keyId: string): Budget[] {
    return config.budgets.filter((b) => b.scope === "tenant" || b.scope === `task:${task}` || b.scope === `key:${keyId}`);
  }

  private spendRow(budget: Budget, now: number): SpendRow {
    const key = periodKey(budget.period, now);
    const row = this.sql.exec<SpendRow>(`SELECT * FROM spend WHERE scope = ? AND period = ? AND period_key = ?`, budget.scope, budget.period, key).toArray()[0];
    return row ?? { scope: budget.scope, period: budget.period, period_key: key, spent: 0, reserved: 0 };
  }

  // An arrow, so the reservation and lease books can be handed it as it is.
  private readonly bump = (key: SpendKey, spent: number, reserved: number): void => {
    this.sql.exec(
      `INSERT INTO spend (scope, period, period_key, spent, reserved) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (scope, period, period_key) DO UPDATE SET spent = spent + excluded.spent, reserved = MAX(0, reserved + excluded.reserved)`,
      key.scope, key.period, key.period_key, spent, reserved,
    );
  };

  async admit(tenantId: string, input: AdmitInput): Promise<AdmitResult> {
    const config = await this.loadConfig(tenantId);
    // Everything below is synchronous: no other admit can interleave between the check and the reservation.
    const now = input.now ?? Date.now();
    const existing = this.reservations.amountOf(input.requestId);
    if (existing !== undefined) return { decision: "allow", remainingUsd: null, reservedUsd: existing, state: "ok" };

    const budgets = this.applicable(config, input.task, input.keyId).map((budget) => ({ budget, row: this.spendRow(budget, now) }));
    const state = worstState(budgets.map(({ budget, row }) => thresholdState(budget, row.spent + row.reserved, budget.limit_usd)));
    const throttled = atLeast(state, "throttle");
    const degraded = atLeast(state, "degrade");

    // Throttling halves the limits that keep a tenant from burning what is left too fast.
    const maxInFlight = throttled ? Math.max(1, Math.floor(config.limits.max_in_flight / 2)) : config.limits.max_in_flight;
    const rpm = throttled ? Math.max(1, Math.floor(config.limits.rpm / 2)) : config.limits.rpm;
    this.sql.exec(`DELETE FROM rate_log WHERE at <= ?`, now - WINDOW_MS);
    const inFlight = this.reservations.count() + this.leases.slotsHeld();
    const deny = (code: NonNullable<AdmitResult["code"]>, message: string, retryAfterS?: number): AdmitResult => ({ decision: "deny", code, message, retryAfterS, remainingUsd: null, reservedUsd: 0, state });
    if (inFlight >= maxInFlight) return deny("concurrency_limited", `${inFlight} requests in flight (limit ${maxInFlight})`, 1);

    const window = this.sql.exec<{ at: number; tokens: number }>(`SELECT at, tokens FROM rate_log`).toArray();
    if (window.length >= rpm) {
      const retry = retryAfterSeconds(window.map((w) => ({ at: w.at, weight: 1 })), WINDOW_MS, window.length - rpm + 1, now);
      return deny("rate_limited", `Rate limit of ${rpm} requests per minute reached`, retry);
    }
    const usedTokens = window.reduce((sum, w) => sum + w.tokens, 0);
    if (usedTokens + input.estimateTokens > config.limits.tpm) {
      const retry = retryAfterSeconds(window.map((w) => ({ at: w.at, weight: w.tokens })), WINDOW_MS, usedTokens + input.estimateTokens - config.limits.tpm, now);
      return deny("rate_limited", `Token rate limit of ${config.limits.tpm} per minute reached`, retry);
    }

    const amount = degraded ? input.degradedEstimateUsd : input.estimateUsd;
    let remaining: number | null = null;
    for (const { budget, row } of budgets) {
      const left = budget.limit_usd - row.spent - row.reserved;
      if (amount > left + 1e-12) {
        const end = periodEnd(budget.period, now);
        const retry = end === null ? undefined : Math.ceil((end - now) / 1000);
        return { ...deny("budget_exceeded", `Budget ${budget.scope}/${budget.period} of $${budget.limit_usd} is exhausted ($${Math.max(0, left).toFixed(6)} left)`, retry), state: "exhausted" };
      }
      remaining = Math.min(remaining ?? Number.POSITIVE_INFINITY, left - amount);
    }

    const keys: SpendKey[] = budgets.map(({ row }) => ({ scope: row.scope, period: row.period, period_key: row.period_key }));
    this.reservations.hold(input.requestId, amount, input.estimateTokens, keys, now, now + input.holdMs);
    this.sql.exec(`INSERT OR REPLACE INTO rate_log (id, at, tokens) VALUES (?, ?, ?)`, input.requestId, now, input.estimateTokens);
    // A tenant with room to spare gets a slice to admit against in the isolate, in the same call.
    const lease = input.lease && !degraded
      ? this.leases.grant(input.lease.leaseId, {
          budgets: budgets.map(({ budget }) => {
            const row = this.spendRow(budget, now);
            return { budget, spent: row.spent, reserved: row.reserved, key: { scope: row.scope, period: row.period, period_key: row.period_key } };
          }),
          limits: config.limits,
          windowRequests: window.length + 1,
          windowTokens: usedTokens + input.estimateTokens,
          inFlight: inFlight + 1,
          estimateUsd: amount,
          now,
        }, input.lease.ttlMs)
      : null;
    await this.scheduleAlarm(Math.min(now + input.holdMs, this.leases.nextExpiry() ?? Number.POSITIVE_INFINITY));
    return { decision: throttled ? "throttle" : degraded ? "degrade" : "allow", remainingUsd: remaining, reservedUsd: amount, state, ...(lease ? { lease } : {}) };
  }

  /**
   * Raises a held reservation to `amountUsd` before a dearer fallback runs, in one synchronous section
   * against every budget it holds: granted whole, or not at all (the caller then skips that fallback).
   */
  async topUp(tenantId: string, input: TopUpInput): Promise<TopUpResult> {
    const config = await this.loadConfig(tenantId);
    return this.reservations.topUp(config, input);
  }

  /**
   * An isolate's batch of settlements under a lease: their spend and their ledger rows land in one
   * synchronous section, like a single settlement's; `close` gives the rest of the slice back.
   */
  async reportLease(tenantId: string, report: LeaseReport): Promise<void> {
    const config = await this.loadConfig(tenantId);
    const now = Date.now();
    for (const event of report.events) this.outbox.add(event, now);
    const keys = this.leases.report(report);
    if (report.events.length) {
      this.forwardSoon();
      await this.scheduleAlarm(now + 5_000);
    }
    await raiseAlerts(this.sql, this.env, tenantId, config, keys, now);
  }

  /**
   * Replaces the reservation with what the call really cost; TPM counts the real tokens from now on.
   * The ledger row, when given, is stored in the same synchronous section as the spend, whatever else
   * happens: settling twice neither bills twice nor duplicates the row.
   */
  async settle(tenantId: string, input: SettleInput): Promise<void> {
    const config = await this.loadConfig(tenantId);
    const now = input.now ?? Date.now();
    if (input.event) this.outbox.add(input.event, now);
    const keys = this.reservations.take(input.requestId, input.actualUsd);
    if (keys) this.sql.exec(`UPDATE rate_log SET tokens = ? WHERE id = ?`, input.actualTokens, input.requestId);
    if (input.event) {
      this.forwardSoon();
      // A safety net: if the forward below fails or the isolate dies, the alarm sends the row.
      await this.scheduleAlarm(now + 5_000);
    }
    if (keys) await raiseAlerts(this.sql, this.env, tenantId, config, keys, now);
  }

  /** Forwards the outbox after the settlement has returned; calls that arrive meanwhile join the next pass. */
  private forwardSoon(): void {
    if (this.forwarding) {
      this.forwardAgain = true;
      return;
    }
    this.forwarding = (async () => {
      do {
        this.forwardAgain = false;
        await this.outbox.forward(this.env.DB, Date.now());
      } while (this.forwardAgain);
    })()
      .catch((error) => console.error(JSON.stringify({ level: "error", msg: "ledger outbox forward failed; the alarm retries", error: String(error) })))
      .finally(() => {
        this.forwarding = null;
      });
    this.ctx.waitUntil(this.forwarding);
  }

  /**
   * Reconciliation's view, after doing what the object can do alone: release expired reservations and
   * forward the whole outbox. Unsettled ids go back to the caller, who looks them up in the ledger.
   */
  async reconcileState(tenantId: string, now = Date.now()): Promise<BudgetObjectState> {
    const config = await this.loadConfig(tenantId);
    const released = this.reservations.releaseExpired(now);
    const outbox = await this.outbox.forward(this.env.DB, now, true);
    const spend = config.budgets.map((budget) => this.spendRow(budget, now));
    const unsettled = this.reservations.unsettled(500);
    await this.rescheduleAlarm();
    return { spend, unsettled, in_flight: this.reservations.inFlight(), released, outbox };
  }

  /**
   * The ledger holds these requests but their settlement never reached the object (the worker died
   * after writing the row): their cost is billed as the settlement would have, once; a settlement
   * that still arrives later finds nothing left to bill. Ids the ledger never learns about are
   * forgotten a day after they expired.
   */
  async repairLostSettlements(tenantId: string, lost: LostSettlement[], now = Date.now()): Promise<RepairedSettlement[]> {
    const config = await this.loadConfig(tenantId);
    const repaired: RepairedSettlement[] = [];
    const touched = new Map<string, SpendKey>();
    for (const item of lost) {
      const keys = this.reservations.take(item.id, item.cost_usd);
      if (!keys) continue;
      repaired.push({ id: item.id, cost_usd: item.cost_usd, keys });
      for (const key of keys) touched.set(`${key.scope}|${key.period}|${key.period_key}`, key);
    }
    if (touched.size) await raiseAlerts(this.sql, this.env, tenantId, config, [...touched.values()], now);
    return repaired;
  }

  async status(tenantId: string, now = Date.now()): Promise<BudgetStatus[]> {
    const config = await this.loadConfig(tenantId);
    return config.budgets.map((budget) => {
      const row = this.spendRow(budget, now);
      const end = periodEnd(budget.period, now);
      const status: BudgetStatus = {
        scope: budget.scope, period: budget.period, period_key: row.period_key, limit_usd: budget.limit_usd,
        spent_usd: row.spent, reserved_usd: row.reserved, remaining_usd: Math.max(0, budget.limit_usd - row.spent - row.reserved),
        state: thresholdState(budget, row.spent + row.reserved, budget.limit_usd),
        thresholds: { alert_at: budget.alert_at, degrade_at: budget.degrade_at, throttle_at: budget.throttle_at },
        resets_at: end === null ? null : new Date(end).toISOString(),
      };
      if (budget.period === "month") status.projected_month_end_usd = projectMonthEnd(row.spent, now);
      return status;
    });
  }

  private async scheduleAlarm(expiresAt: number): Promise<void> {
    // Never in the past: a reservation that is already stale is released within a second, not re-entrantly.
    const at = Math.max(expiresAt, Date.now() + 1_000);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  private async rescheduleAlarm(): Promise<void> {
    const reservation = this.reservations.nextExpiry();
    const outbox = this.outbox.nextAt();
    const next = [reservation, outbox, this.leases.nextExpiry()].filter((at): at is number => at !== null);
    if (next.length) await this.scheduleAlarm(Math.min(...next));
  }

  /** Releases reservations whose worker never settled them, retries the outbox, then waits for what is next. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.reservations.releaseExpired(now);
    this.leases.releaseExpired(now);
    await this.outbox.forward(this.env.DB, now);
    await this.rescheduleAlarm();
  }
}
