// Retrieval eval (issue 17): recall@k of collection search over the project's own docs, and the
// share of retrieval cost the caches save on a replay.
//
//   node bench/eval-retrieval.mjs [--queries 3000] [--days 7] [--seed 17] [--out DIR]
//
// Corpus: docs/*.md and README.md, chunked by src/retrieval/chunking.ts (bundled with esbuild, so it
// is the gateway's own code, tokenizer included). Questions: bench/data/retrieval-questions.json,
// written for this repo, each labelled with the document and the section that answers it. A hit at
// rank k is a chunk of that document under that heading among the top k. Vectors come from the local
// USE-lite model, the one scripts/embed-server.mjs serves to the gateway (`local/use-lite`), and the
// ranking is exact cosine, as the local vector store computes it.
//
// Replay: `--queries` questions drawn Zipf-like (s = 1.1) over the question set, spread over `--days`
// days; each day one document is edited (a sentence appended) and the whole corpus is re-ingested (a
// nightly sync). Priced at Workers AI bge-base-en-v1.5 (the production embedder) for embeddings and
// the cheapest fast-tier model for summaries, with the gateway's rules: a repeat (same collection
// version, normalised query, top_k, filter) is a retrieval-cache hit; a query embedding already made
// is an embedding-cache hit (7 days); an unchanged document is skipped; an unchanged chunk of a
// changed document is an embedding-cache hit; a summary is made once per (version, query).

import { build } from "esbuild";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { embedTexts, CACHE_DIR } from "./embedding-cache.mjs";
import { mulberry32 } from "./seeded-random.mjs";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    queries: { type: "string", default: "3000" },
    days: { type: "string", default: "7" },
    seed: { type: "string", default: "17" },
    out: { type: "string", default: path.join(repoRoot, "bench/results") },
  },
  strict: true,
});

// The gateway's own chunker, packer, query normaliser, token counter and catalog.
await fs.mkdir(CACHE_DIR, { recursive: true });
const libFile = path.join(CACHE_DIR, "retrieval-lib.mjs");
await build({
  stdin: {
    contents: `export { chunkText, CHUNK_TARGET_TOKENS, CHUNK_MAX_TOKENS } from "./src/retrieval/chunking.ts";
export { packContext } from "./src/retrieval/context-packing.ts";
export { normaliseQuery } from "./src/retrieval/retrieval-cache.ts";
export { countText } from "./src/tokens/count-tokens.ts";
export { DEFAULT_CATALOG } from "./src/config/model-catalog.ts";`,
    resolveDir: repoRoot,
    loader: "ts",
  },
  bundle: true,
  platform: "neutral",
  mainFields: ["module", "main"],
  format: "esm",
  outfile: libFile,
  logLevel: "error",
});
const lib = await import(libFile);

const TOP_K = 5;
const SUMMARY_OUTPUT_TOKENS = 200;
const CONTEXT_TOKENS = 2000;

const catalog = lib.DEFAULT_CATALOG;
const embedModel = catalog.find((m) => m.id === "workers-ai/bge-base-en-v1.5");
const fastModel = catalog.filter((m) => m.kind === "chat" && m.tier === "fast" && !m.provider.startsWith("sim")).sort((a, b) => a.input_per_mtok - b.input_per_mtok)[0];
const price = (model, input, output = 0) => (input * model.input_per_mtok + output * model.output_per_mtok) / 1e6;

// ---- corpus
const docFiles = [...(await fs.readdir(path.join(repoRoot, "docs"))).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`), "README.md"];
const docs = await Promise.all(docFiles.map(async (file) => ({ file, text: await fs.readFile(path.join(repoRoot, file), "utf8") })));
const chunks = docs.flatMap((doc) => lib.chunkText(doc.text).map((c) => ({ ...c, file: doc.file })));
const questions = JSON.parse(await fs.readFile(path.join(repoRoot, "bench/data/retrieval-questions.json"), "utf8"));

const lastHeading = (section) => section.split(" > ").at(-1) ?? "";
for (const q of questions) {
  if (!chunks.some((c) => c.file === q.document && lastHeading(c.section) === q.section)) throw new Error(`${q.id}: no chunk of ${q.document} under "${q.section}"`);
}

// ---- recall@k
const vectors = await embedTexts([...chunks.map((c) => c.text), ...questions.map((q) => lib.normaliseQuery(q.question))], { name: "use-lite-retrieval" });
const dot = (a, b) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const ranks = questions.map((q) => {
  const qv = vectors.get(lib.normaliseQuery(q.question));
  const ranked = chunks.map((c) => ({ c, score: dot(qv, vectors.get(c.text)) })).sort((a, b) => b.score - a.score);
  const rank = ranked.findIndex(({ c }) => c.file === q.document && lastHeading(c.section) === q.section) + 1;
  return { id: q.id, rank, top: `${ranked[0].c.file} › ${lastHeading(ranked[0].c.section)}` };
});
const recallAt = (k) => ranks.filter((r) => r.rank > 0 && r.rank <= k).length / ranks.length;
const mrr = ranks.reduce((s, r) => s + (r.rank > 0 ? 1 / r.rank : 0), 0) / ranks.length;

// ---- replay
const random = mulberry32(Number(args.seed));
const zipfWeights = questions.map((_, i) => 1 / (i + 1) ** 1.1);
const zipfTotal = zipfWeights.reduce((s, w) => s + w, 0);
// Popularity is not the file order: shuffle which question is most asked.
const order = questions.map((_, i) => i).sort(() => random() - 0.5);
function drawQuestion() {
  let x = random() * zipfTotal;
  for (let i = 0; i < zipfWeights.length; i++) {
    x -= zipfWeights[i];
    if (x <= 0) return questions[order[i]];
  }
  return questions[order.at(-1)];
}
const sha = async (text) => Buffer.from(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))).toString("hex");

const totalQueries = Number(args.queries);
const days = Number(args.days);
const naive = { embedUsd: 0, ingestUsd: 0, summaryUsd: 0, searches: 0 };
const cached = { embedUsd: 0, ingestUsd: 0, summaryUsd: 0, searches: 0, retrievalHits: 0, embeddingHits: 0, summaryHits: 0, docsSkipped: 0, chunksFromCache: 0 };
const embeddedTexts = new Set();
const retrievalCache = new Set();
const summaryCache = new Set();
const docHashes = new Map();
let version = 0;
let corpus = docs.map((d) => ({ ...d }));

async function ingestDay(day) {
  let changed = false;
  for (const doc of corpus) {
    const docChunks = lib.chunkText(doc.text);
    const tokens = docChunks.reduce((s, c) => s + lib.countText(c.text), 0);
    naive.ingestUsd += price(embedModel, tokens);
    const hash = await sha(doc.text);
    if (docHashes.get(doc.file) === hash) {
      cached.docsSkipped += 1;
      continue;
    }
    docHashes.set(doc.file, hash);
    changed = true;
    for (const c of docChunks) {
      if (embeddedTexts.has(c.text)) cached.chunksFromCache += 1;
      else {
        embeddedTexts.add(c.text);
        cached.ingestUsd += price(embedModel, lib.countText(c.text));
      }
    }
  }
  if (changed) version += 1;
  // Tomorrow's edit: one document gains a sentence at the end of one of its paragraphs.
  const target = corpus[Math.floor(random() * corpus.length)];
  target.text = `${target.text}\n\nEdited on day ${day + 1}: see the changelog for what moved.\n`;
}

const perDay = Math.ceil(totalQueries / days);
for (let day = 0; day < days; day++) {
  await ingestDay(day);
  for (let i = 0; i < perDay && day * perDay + i < totalQueries; i++) {
    const q = drawQuestion();
    const text = lib.normaliseQuery(q.question);
    const tokens = lib.countText(text);
    const contextTokens = CONTEXT_TOKENS;
    naive.embedUsd += price(embedModel, tokens);
    naive.searches += 1;
    naive.summaryUsd += price(fastModel, contextTokens + tokens, SUMMARY_OUTPUT_TOKENS);
    const key = `${version}\u0000${text}\u0000${TOP_K}`;
    if (retrievalCache.has(key)) cached.retrievalHits += 1;
    else {
      retrievalCache.add(key);
      cached.searches += 1;
      if (embeddedTexts.has(`q:${text}`)) cached.embeddingHits += 1;
      else {
        embeddedTexts.add(`q:${text}`);
        cached.embedUsd += price(embedModel, tokens);
      }
    }
    if (summaryCache.has(`${version}\u0000${text}`)) cached.summaryHits += 1;
    else {
      summaryCache.add(`${version}\u0000${text}`);
      cached.summaryUsd += price(fastModel, contextTokens + tokens, SUMMARY_OUTPUT_TOKENS);
    }
  }
}

const retrievalNaive = naive.embedUsd + naive.ingestUsd;
const retrievalCached = cached.embedUsd + cached.ingestUsd;
const saved = (a, b) => (a === 0 ? 0 : 1 - b / a);
const round = (x, p = 4) => Math.round(x * 10 ** p) / 10 ** p;
const result = {
  date: new Date().toISOString().slice(0, 10),
  corpus: { documents: docs.length, chunks: chunks.length, chunk_target_tokens: lib.CHUNK_TARGET_TOKENS, chunk_max_tokens: lib.CHUNK_MAX_TOKENS, files: docFiles },
  embedder: "local/use-lite (USE-lite, @energetic-ai/embeddings)",
  questions: questions.length,
  recall: { at1: round(recallAt(1)), at3: round(recallAt(3)), at5: round(recallAt(5)), mrr: round(mrr), hits: { at1: ranks.filter((r) => r.rank === 1).length, at3: ranks.filter((r) => r.rank > 0 && r.rank <= 3).length, at5: ranks.filter((r) => r.rank > 0 && r.rank <= 5).length } },
  misses_at5: ranks.filter((r) => !(r.rank > 0 && r.rank <= 5)).map((r) => ({ ...r, question: questions.find((q) => q.id === r.id).question })),
  replay: {
    queries: totalQueries,
    days,
    seed: Number(args.seed),
    distinct_questions_asked: new Set([...retrievalCache].map((k) => k.split("\u0000")[1])).size,
    prices: { embedding: embedModel.id, embedding_per_mtok: embedModel.input_per_mtok, summary: fastModel.id, summary_in_per_mtok: fastModel.input_per_mtok, summary_out_per_mtok: fastModel.output_per_mtok, context_tokens: CONTEXT_TOKENS, summary_output_tokens: SUMMARY_OUTPUT_TOKENS },
    without_caches_usd: { query_embeddings: naive.embedUsd, ingestion: naive.ingestUsd, summaries: naive.summaryUsd, vector_searches: naive.searches },
    with_caches_usd: { query_embeddings: cached.embedUsd, ingestion: cached.ingestUsd, summaries: cached.summaryUsd, vector_searches: cached.searches },
    cache_events: { retrieval_hits: cached.retrievalHits, query_embedding_hits: cached.embeddingHits, summary_hits: cached.summaryHits, documents_skipped: cached.docsSkipped, chunks_from_embedding_cache: cached.chunksFromCache, versions: version },
    saved_share: {
      retrieval: round(saved(retrievalNaive, retrievalCached)),
      query_embeddings: round(saved(naive.embedUsd, cached.embedUsd)),
      ingestion: round(saved(naive.ingestUsd, cached.ingestUsd)),
      summaries: round(saved(naive.summaryUsd, cached.summaryUsd)),
      vector_searches: round(saved(naive.searches, cached.searches)),
      retrieval_and_summaries: round(saved(retrievalNaive + naive.summaryUsd, retrievalCached + cached.summaryUsd)),
    },
  },
};

await fs.mkdir(args.out, { recursive: true });
const base = path.join(args.out, `retrieval-${result.date}`);
await fs.writeFile(`${base}.json`, `${JSON.stringify(result, null, 1)}\n`);
const usd = (x) => `$${x.toFixed(6)}`;
const r = result.replay;
const md = `# Retrieval eval, ${result.date}

\`npm run eval:retrieval\` (bench/eval-retrieval.mjs). Corpus: ${docs.length} files (${docFiles.join(", ")}), ${chunks.length} chunks by src/retrieval/chunking.ts (target ${lib.CHUNK_TARGET_TOKENS}, max ${lib.CHUNK_MAX_TOKENS} tokens). Embedder: ${result.embedder}, exact cosine. ${questions.length} questions (bench/data/retrieval-questions.json), each labelled with the document and section that answers it.

## Recall (a chunk of the labelled section in the top k)

| k | recall | hits |
| ---: | ---: | ---: |
| 1 | ${result.recall.at1} | ${result.recall.hits.at1}/${questions.length} |
| 3 | ${result.recall.at3} | ${result.recall.hits.at3}/${questions.length} |
| 5 | ${result.recall.at5} | ${result.recall.hits.at5}/${questions.length} |

MRR ${result.recall.mrr}. Misses at 5: ${result.misses_at5.map((m) => `${m.id} (rank ${m.rank || "none"}, top: ${m.top})`).join("; ") || "none"}.

## Cost saved by the caches on a replay

${r.queries} grounded questions, Zipf-like (s = 1.1) over the ${questions.length} questions (${r.distinct_questions_asked} distinct asked), over ${r.days} days, top_k ${TOP_K}; each day one document is edited and the whole corpus re-ingested. Embeddings priced as ${r.prices.embedding} ($${r.prices.embedding_per_mtok}/Mtok), summaries as ${r.prices.summary} (${r.prices.context_tokens} context tokens in, ${r.prices.summary_output_tokens} out).

| cost | without caches | with caches | saved |
| --- | ---: | ---: | ---: |
| query embeddings | ${usd(r.without_caches_usd.query_embeddings)} | ${usd(r.with_caches_usd.query_embeddings)} | ${r.saved_share.query_embeddings} |
| ingestion (${r.days} syncs) | ${usd(r.without_caches_usd.ingestion)} | ${usd(r.with_caches_usd.ingestion)} | ${r.saved_share.ingestion} |
| **retrieval (both)** | ${usd(r.without_caches_usd.query_embeddings + r.without_caches_usd.ingestion)} | ${usd(r.with_caches_usd.query_embeddings + r.with_caches_usd.ingestion)} | **${r.saved_share.retrieval}** |
| summaries (\`summarize: true\`) | ${usd(r.without_caches_usd.summaries)} | ${usd(r.with_caches_usd.summaries)} | ${r.saved_share.summaries} |
| vector searches (count) | ${r.without_caches_usd.vector_searches} | ${r.with_caches_usd.vector_searches} | ${r.saved_share.vector_searches} |

Cache events: ${r.cache_events.retrieval_hits} retrieval-cache hits, ${r.cache_events.query_embedding_hits} query embeddings from the embedding cache (repeats after a version bump), ${r.cache_events.summary_hits} summary hits, ${r.cache_events.documents_skipped} unchanged documents skipped, ${r.cache_events.chunks_from_embedding_cache} chunks of edited documents from the embedding cache, ${r.cache_events.versions} collection versions.

The replay applies the gateway's cache rules offline (same normaliser, same chunker); it does not time the gateway.
`;
await fs.writeFile(`${base}.md`, md);
console.log(md);
