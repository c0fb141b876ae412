import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            ADMIN_TOKEN: "test-admin-token",
            WEBHOOK_SIGNING_SECRET: "test-webhook-secret",
            // Instant sim and no local embedder: tests mock what they need at the fetch boundary.
            SIM_LATENCY_SCALE: "0",
            EMBEDDER_URL: "",
            OPENAI_API_KEY: "",
            OPENAI_BASE_URL: "",
            ANTHROPIC_API_KEY: "",
            ANTHROPIC_BASE_URL: "",
          },
        },
      }),
    ],
    test: {
      setupFiles: ["./test/setup/apply-migrations.ts"],
      include: ["test/**/*.test.ts"],
      testTimeout: 30_000,
      hookTimeout: 30_000,
    },
  };
});
