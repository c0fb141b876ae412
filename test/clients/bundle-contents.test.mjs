// What the deployed Worker bundle holds (node --test; part of `npm run test:clients`). It builds the
// production bundle the way `wrangler deploy` would (`--dry-run`, the esbuild metafile of that build)
// and checks what issue 13 took out stays out: the cl100k tokenizer table (the Worker estimates
// tokens, src/tokens/estimate-tokens.ts) and ajv / ajv-formats / fast-uri (the MCP SDK's default
// validator; Tollgate passes @cfworker/json-schema's, and wrangler.toml aliases ajv to a stand-in
// that throws if constructed). And that the bundle stays within the 300 KiB gzipped goal.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);
const GZIP_GOAL_KIB = 300;

describe("the production bundle", () => {
  let dir;
  let inputs;
  let code;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "tollgate-bundle-test-"));
    await run(
      process.execPath,
      [path.join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--env", "production", "--outdir", path.join(dir, "out"), "--metafile", path.join(dir, "meta.json")],
      { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" }, maxBuffer: 16 * 2 ** 20, timeout: 240_000 },
    );
    const meta = JSON.parse(readFileSync(path.join(dir, "meta.json"), "utf8"));
    inputs = Object.keys(Object.values(meta.outputs).find((o) => o.entryPoint).inputs);
    code = readFileSync(path.join(dir, "out", "index.js"));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("holds no tokenizer table, ajv, ajv-formats or fast-uri", () => {
    for (const pkg of ["gpt-tokenizer", "ajv", "ajv-formats", "fast-uri"]) {
      const found = inputs.filter((p) => p.includes(`node_modules/${pkg}/`));
      assert.deepEqual(found, [], `${pkg} is in the bundle`);
    }
  });

  it("holds none of zod's locales (\`import { z }\` pulls them all in; \`import * as z\` lets esbuild drop them)", () => {
    const locales = inputs.filter((p) => /node_modules\/zod\/.*\/locales\/(?!en\.)/.test(p));
    assert.deepEqual(locales, [], "zod locales are in the bundle");
  });

  it("has the throwing stand-in where the MCP SDK imports ajv, and the cfworker validator it uses", () => {
    assert.ok(inputs.some((p) => p.endsWith("src/mcp/ajv-not-bundled.ts")), "the ajv alias was not applied");
    assert.ok(inputs.some((p) => p.includes("node_modules/@cfworker/json-schema/")), "@cfworker/json-schema is missing");
  });

  it(`is at most ${GZIP_GOAL_KIB} KiB gzipped`, () => {
    const kib = gzipSync(code).length / 1024;
    assert.ok(kib <= GZIP_GOAL_KIB, `${kib.toFixed(1)} KiB gzipped`);
  });
});
