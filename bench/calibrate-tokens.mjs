// How far the Worker's token estimate (src/tokens/estimate-tokens.ts) is from the real cl100k_base count
// (gpt-tokenizer, a devDependency kept for this), text by text, on real text: the repo's own docs and
// source (prose, markdown, code), and the prompts and answers in ../shared/data (GSM8K prompts with two
// models' worked answers, MMLU questions, Quora questions, paraphrase pairs). Prints, per source and
// overall, the share of texts the estimate over-estimates (or matches) and the spread of
// estimate / actual, and writes bench/results/token-estimate-<date>.{json,md}.
//
//   node bench/calibrate-tokens.mjs [--out DIR] [--no-write]
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { countTokens } from "gpt-tokenizer/encoding/cl100k_base";
import { estimateTokens } from "../src/tokens/estimate-tokens.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dataDir = path.resolve(repoRoot, "../shared/data");
const { values: args } = parseArgs({
  options: { out: { type: "string", default: path.join(repoRoot, "bench/results") }, "no-write": { type: "boolean", default: false } },
  strict: true,
});

async function exists(p) {
  return fs.access(p).then(() => true, () => false);
}

// RFC 4180-ish: quoted fields may hold commas, newlines and doubled quotes.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") row.push(field), (field = "");
    else if (ch === "\n") row.push(field), rows.push(row), (row = []), (field = "");
    else if (ch !== "\r") field += ch;
  }
  if (field || row.length) row.push(field), rows.push(row);
  return rows;
}

const paragraphs = (text) => text.split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean);

function chunksOfLines(text, lines = 30) {
  const all = text.split("\n");
  const out = [];
  for (let i = 0; i < all.length; i += lines) {
    const chunk = all.slice(i, i + lines).join("\n");
    if (chunk.trim()) out.push(chunk);
  }
  return out;
}

async function listFiles(dir, ext) {
  const out = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(p, ext)));
    else if (p.endsWith(ext)) out.push(p);
  }
  return out.sort();
}

async function corpus() {
  const sources = {};
  const docs = [path.join(repoRoot, "README.md"), path.join(repoRoot, "bench/README.md"), path.join(repoRoot, "test/README.md"), ...(await listFiles(path.join(repoRoot, "docs"), ".md"))];
  sources["repo docs (paragraphs)"] = (await Promise.all(docs.map((f) => fs.readFile(f, "utf8")))).flatMap(paragraphs);
  const code = await listFiles(path.join(repoRoot, "src"), ".ts");
  sources["repo src/*.ts (30-line chunks)"] = (await Promise.all(code.map((f) => fs.readFile(f, "utf8")))).flatMap((t) => chunksOfLines(t));
  sources["bench/data/*.jsonl (JSON lines)"] = (
    await Promise.all(["direction-swaps", "near-misses", "support-paraphrases"].map((f) => fs.readFile(path.join(repoRoot, `bench/data/${f}.jsonl`), "utf8")))
  ).flatMap((t) => t.split("\n").filter(Boolean));

  const gsm = path.join(dataDir, "routing/gsm8k_responses.csv");
  if (await exists(gsm)) {
    const [header, ...rows] = parseCsv(await fs.readFile(gsm, "utf8"));
    const answers = header.map((h, i) => (h.endsWith("_response") ? i : -1)).filter((i) => i >= 0);
    sources["gsm8k prompts"] = rows.map((r) => r[0]).filter(Boolean);
    sources["gsm8k answers (Mixtral, GPT-4)"] = rows.flatMap((r) => answers.map((i) => r[i])).filter(Boolean);
  }
  const mmluDir = path.join(dataDir, "routing/mmlu");
  if (await exists(mmluDir)) {
    const files = await listFiles(mmluDir, ".csv");
    const prompts = [];
    for (const f of files) prompts.push(...parseCsv(await fs.readFile(f, "utf8")).slice(1).map((r) => r[0]).filter(Boolean));
    sources["mmlu prompts (40 subjects)"] = prompts;
  }
  const qqp = path.join(dataDir, "semantic-cache/qqp-dev.jsonl");
  if (await exists(qqp)) {
    const lines = (await fs.readFile(qqp, "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l));
    sources["qqp-dev questions"] = lines.flatMap((p) => [p.a, p.b]).filter(Boolean);
  }
  const para = path.join(dataDir, "semantic-cache/paraphrases.json");
  if (await exists(para)) {
    sources["paraphrases.json"] = JSON.parse(await fs.readFile(para, "utf8")).flatMap((p) => [p.origin, p.similar]).filter(Boolean);
  }
  return sources;
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
const r3 = (x) => Number(x.toFixed(3));

function measure(texts) {
  const ratios = [];
  let over = 0;
  let est = 0;
  let act = 0;
  let underBy = 0;
  for (const text of texts) {
    const e = estimateTokens(text);
    // A provider reads `<|im_start|>` in a user's text as text, not as a special token.
    const a = countTokens(text, { disallowedSpecial: new Set() });
    est += e;
    act += a;
    if (e >= a) over++;
    else underBy = Math.max(underBy, a - e);
    ratios.push(a === 0 ? 1 : e / a);
  }
  ratios.sort((x, y) => x - y);
  return {
    texts: texts.length,
    actualTokens: act,
    overOrEqualShare: r3(over / texts.length),
    totalRatio: r3(est / act),
    ratio: { min: r3(ratios[0]), p1: r3(quantile(ratios, 0.01)), p5: r3(quantile(ratios, 0.05)), p50: r3(quantile(ratios, 0.5)), p95: r3(quantile(ratios, 0.95)), max: r3(ratios.at(-1)) },
    worstUnderTokens: underBy,
  };
}

function toMarkdown(result) {
  const lines = [
    `# Token estimate vs cl100k_base (${result.date})`,
    "",
    "`node bench/calibrate-tokens.mjs`: `estimateTokens` (src/tokens/estimate-tokens.ts) against gpt-tokenizer's cl100k_base, text by text.",
    "Ratio = estimate / actual; \"≥ actual\" = the share of texts the estimate does not under-count.",
    "",
    "| source | texts | tokens | ≥ actual | total ratio | min | p1 | p5 | p50 | p95 | max | worst under (tokens) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const [name, m] of Object.entries(result.sources).concat([["**all**", result.all]])) {
    const q = m.ratio;
    lines.push(`| ${name} | ${m.texts} | ${m.actualTokens} | ${(m.overOrEqualShare * 100).toFixed(1)}% | ${m.totalRatio} | ${q.min} | ${q.p1} | ${q.p5} | ${q.p50} | ${q.p95} | ${q.max} | ${m.worstUnderTokens} |`);
  }
  if (result.missing.length) lines.push("", `Not found (skipped): ${result.missing.join(", ")}.`);
  return lines.join("\n") + "\n";
}

const sources = await corpus();
const expected = ["gsm8k prompts", "mmlu prompts (40 subjects)", "qqp-dev questions", "paraphrases.json"];
const result = {
  date: new Date().toISOString().slice(0, 10),
  sources: Object.fromEntries(Object.entries(sources).map(([k, v]) => [k, measure(v)])),
  all: measure(Object.values(sources).flat()),
  missing: expected.filter((k) => !sources[k]),
};
const md = toMarkdown(result);
process.stdout.write(md);
if (!args["no-write"]) {
  await fs.mkdir(args.out, { recursive: true });
  const base = path.join(args.out, `token-estimate-${result.date}`);
  await fs.writeFile(`${base}.json`, JSON.stringify(result, null, 2) + "\n");
  await fs.writeFile(`${base}.md`, md);
}
