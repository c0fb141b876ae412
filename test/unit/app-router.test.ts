import { describe, expect, it } from "vitest";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { buildApp } from "../../src/app";

// Hono's SmartRouter quietly falls back to its trie router when one route pattern cannot be compiled
// into RegExpRouter's single regular expression; every request then pays for a slower lookup.
describe("the app's routes", () => {
  it("all compile into Hono's RegExpRouter", () => {
    const router = new RegExpRouter<string>();
    for (const route of buildApp().routes) router.add(route.method, route.path, route.path);
    expect(() => router.match("POST", "/v1/chat/completions")).not.toThrow();
  });
});
