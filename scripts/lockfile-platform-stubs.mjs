#!/usr/bin/env node
// The npm registry reachable here lacks workerd's macOS and Windows builds, so npm leaves them out of
// package-lock.json, and `npm ci` then refuses the lockfile. This records them as optional, platform-
// restricted entries: npm skips them on Linux (never fetching them) and `npm ci` accepts the lockfile.
// Run after any `npm install` that changes the lockfile: `node scripts/lockfile-platform-stubs.mjs`.
import { readFileSync, writeFileSync } from "node:fs";

const PLATFORMS = {
  "@cloudflare/workerd-darwin-64": { os: ["darwin"], cpu: ["x64"] },
  "@cloudflare/workerd-darwin-arm64": { os: ["darwin"], cpu: ["arm64"] },
  "@cloudflare/workerd-windows-64": { os: ["win32"], cpu: ["x64"] },
};
const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
let added = 0;
for (const [where, meta] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const platform = PLATFORMS[dep];
    if (!platform) continue;
    const nested = `${where ? `${where}/` : ""}node_modules/${dep}`;
    if (lock.packages[nested] || lock.packages[`node_modules/${dep}`]?.version === version) continue;
    lock.packages[nested] = { version, dev: true, optional: true, license: "Apache-2.0", ...platform };
    added++;
  }
}
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lockfile: ${added} platform stub(s) added`);
