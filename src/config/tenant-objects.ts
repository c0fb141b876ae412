import type { Residency } from "./model-catalog";

// workerd (wrangler dev, vitest) throws "Jurisdiction restrictions are not implemented in workerd".
const LOCAL_RUNTIME = /not implemented in workerd/;
let jurisdictionsMissing = false;

function inJurisdiction<T extends Rpc.DurableObjectBranded | undefined>(ns: DurableObjectNamespace<T>, residency: Residency): DurableObjectNamespace<T> | undefined {
  if (jurisdictionsMissing) return undefined;
  try {
    return ns.jurisdiction(residency);
  } catch (error) {
    if (!(error instanceof Error) || !LOCAL_RUNTIME.test(error.message)) throw error;
    jurisdictionsMissing = true;
    return undefined;
  }
}

/**
 * The stub of a tenant-scoped Durable Object. A tenant with residency gets its objects in that
 * jurisdiction's namespace: the same name there is a different object, created, run and stored only
 * inside the jurisdiction. Every tenant-scoped `idFromName` goes through here so none is missed.
 * The local runtime has no jurisdictions; there the object is named `<region>:<name>` instead, so
 * it is still a separate object, as it would be in production.
 */
export function tenantObject<T extends Rpc.DurableObjectBranded | undefined>(ns: DurableObjectNamespace<T>, name: string, residency: Residency | null | undefined): DurableObjectStub<T> {
  if (!residency) return ns.get(ns.idFromName(name));
  const scoped = inJurisdiction(ns, residency);
  return scoped ? scoped.get(scoped.idFromName(name)) : ns.get(ns.idFromName(`${residency}:${name}`));
}
