#!/usr/bin/env node
// Vendors uPlot (the dashboard's chart library) from node_modules into public/lib/uplot/, which the
// Workers assets binding serves. The copies are committed, so `npm start`, `npm test`, `npm run bench`,
// a bare `wrangler deploy` and the CI dry-runs all ship them with no build hook to forget.
// `--check` (run by .ci/run) fails when the committed copies differ from the installed uplot version,
// so a dependency bump cannot silently serve an old library.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const source = path.join(root, "node_modules", "uplot");
const target = path.join(root, "public", "lib", "uplot");
const files = [
  ["dist/uPlot.iife.min.js", "uPlot.iife.min.js"],
  ["dist/uPlot.min.css", "uPlot.min.css"],
  ["LICENSE", "LICENSE"],
];

const check = process.argv.includes("--check");
if (!existsSync(source)) {
  console.error("uplot is not installed: run npm install");
  process.exit(1);
}
const stale = [];
if (!check) mkdirSync(target, { recursive: true });
for (const [from, to] of files) {
  const src = path.join(source, from);
  const dest = path.join(target, to);
  if (check) {
    if (!existsSync(dest) || !readFileSync(src).equals(readFileSync(dest))) stale.push(to);
  } else {
    copyFileSync(src, dest);
  }
}
const version = JSON.parse(readFileSync(path.join(source, "package.json"), "utf8")).version;
if (stale.length) {
  console.error(`public/lib/uplot is out of date with uplot ${version} (${stale.join(", ")}): run node scripts/copy-vendor-assets.mjs and commit`);
  process.exit(1);
}
console.log(check ? `public/lib/uplot matches uplot ${version}` : `copied uplot ${version} to public/lib/uplot`);
