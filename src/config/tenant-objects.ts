import type { Residency } from "./model-catalog";

/**
 * The stub of a tenant-scoped Durable Object. A tenant with residency gets its objects in that
 * jurisdiction's namespace: the same name there is a different object, created, run and stored only
 * inside the jurisdiction. Every tenant-scoped `idFromName` goes through here so none is missed.
 */
export function tenantObject<T extends Rpc.DurableObjectBranded | undefined>(ns: DurableObjectNamespace<T>, name: string, residency: Residency | null | undefined): DurableObjectStub<T> {
  const scoped = residency ? ns.jurisdiction(residency) : ns;
  return scoped.get(scoped.idFromName(name));
}
