import type { TenantLimits, TenantPolicy } from "./config/tenant-policy";
import type { RequestLedger } from "./ledger/request-ledger";
import type { RequestTrace } from "./telemetry/request-trace";

export interface TenantContext {
  tenantId: string;
  tenantName: string;
  keyId: string;
  policy: TenantPolicy;
  limits: TenantLimits;
}

/** The typed context every route and middleware shares; no string-keyed lookups elsewhere. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    tenant: TenantContext;
    /** The request's ledger row, filled in as the request moves along and emitted once at the end. */
    ledger: RequestLedger;
    /** The request's trace, when an OTLP endpoint is configured. */
    trace?: RequestTrace;
  };
}
