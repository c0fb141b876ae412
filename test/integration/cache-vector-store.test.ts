import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { LocalStore } from "../../src/vectors/vector-store";

const future = () => Date.now() + 60_000;
const unique = () => `ns-${crypto.randomUUID()}`;

describe("LocalVectorStore (SQLite, exact cosine)", () => {
  it("ranks by cosine within one namespace and one scope", async () => {
    const store = new LocalStore(env.LOCAL_VECTORS);
    const ns = unique();
    await store.upsert(ns, [
      { id: "east", values: [1, 0, 0], scope: "s1", expiresAt: future() },
      { id: "north-east", values: [1, 1, 0], scope: "s1", expiresAt: future() },
      { id: "up", values: [0, 0, 5], scope: "s1", expiresAt: future() },
      { id: "east-other-scope", values: [1, 0, 0], scope: "s2", expiresAt: future() },
    ]);
    const matches = await store.query(ns, [2, 0.1, 0], "s1", 3);
    expect(matches.map((m) => m.id)).toEqual(["east", "north-east", "up"]);
    expect(matches[0]?.score).toBeCloseTo(2 / Math.hypot(2, 0.1), 6);
    expect(matches[1]?.score).toBeCloseTo((2 + 0.1) / (Math.hypot(2, 0.1) * Math.SQRT2), 6);
    expect(matches[2]?.score).toBeCloseTo(0, 6);
    expect((await store.query(ns, [1, 0, 0], "s2", 5)).map((m) => m.id)).toEqual(["east-other-scope"]);
  });

  it("keeps namespaces apart even inside one object", async () => {
    const stub = env.LOCAL_VECTORS.get(env.LOCAL_VECTORS.idFromName(unique()));
    await stub.upsert("tenant-a", [{ id: "a1", values: [1, 0], scope: "s", expiresAt: future() }]);
    await stub.upsert("tenant-b", [{ id: "b1", values: [1, 0], scope: "s", expiresAt: future() }]);
    expect((await stub.query("tenant-a", [1, 0], "s", 10)).map((m) => m.id)).toEqual(["a1"]);
    expect((await stub.query("tenant-b", [1, 0], "s", 10)).map((m) => m.id)).toEqual(["b1"]);
    await stub.remove("tenant-a", ["a1", "b1"]);
    expect(await stub.count("tenant-a")).toBe(0);
    expect(await stub.count("tenant-b")).toBe(1);
  });

  it("skips expired vectors and vectors of another dimension, and upserts by id", async () => {
    const store = new LocalStore(env.LOCAL_VECTORS);
    const ns = unique();
    await store.upsert(ns, [
      { id: "old", values: [1, 0], scope: "s", expiresAt: Date.now() - 1 },
      { id: "wide", values: [1, 0, 0], scope: "s", expiresAt: future() },
      { id: "v", values: [0, 1], scope: "s", expiresAt: future() },
    ]);
    await store.upsert(ns, [{ id: "v", values: [1, 0], scope: "s", expiresAt: future() }]);
    const matches = await store.query(ns, [1, 0], "s", 10);
    expect(matches).toEqual([{ id: "v", score: expect.closeTo(1, 6) }]);
  });

  it("stores its vectors in SQLite", async () => {
    const ns = unique();
    const stub = env.LOCAL_VECTORS.get(env.LOCAL_VECTORS.idFromName(`tenant:${ns}`));
    await new LocalStore(env.LOCAL_VECTORS).upsert(ns, [{ id: "x", values: [3, 4], scope: "s", expiresAt: future() }]);
    const row = await runInDurableObject(stub, (_instance, state) => state.storage.sql.exec<{ id: string; namespace: string; vector: ArrayBuffer }>("SELECT id, namespace, vector FROM vectors").one());
    expect(row.id).toBe("x");
    expect(row.namespace).toBe(ns);
    expect([...new Float32Array(row.vector)]).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
  });
});
