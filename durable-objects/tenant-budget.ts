import { DurableObject } from "cloudflare:workers";

export class TenantBudget extends DurableObject<Env> {}
