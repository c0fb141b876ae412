// An OpenAI-compatible upstream that answers at once, so a benchmark measures the gateway and not a
// model. Deterministic: the same request always gets the same answer, which keeps runs comparable.
//
//   node bench/mock-upstream.mjs [--port 8790] [--latency-ms 0]
//
// Programmatic use:
//   startMockUpstream({ port })  -> { url, close, stats }   in this process
//   spawnMockUpstream({ port })  -> { url, close, stats }   in a child process, so that a load generator
//                                    in the parent does not share (and skew) the mock's event loop.
import { createServer } from "node:http";
import { fork } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const SELF = fileURLToPath(import.meta.url);
const DEFAULT_EMBEDDING_DIMS = 64;

// Rough but stable: about four characters per token is what OpenAI's own guidance suggests for English.
const countTokens = (text) => Math.max(1, Math.ceil(text.length / 4));

function messageText(messages) {
  if (!Array.isArray(messages)) return "";
  return messages
    .map((m) => (typeof m?.content === "string" ? m.content : JSON.stringify(m?.content ?? "")))
    .join("\n");
}

function answerFor(prompt) {
  const digest = createHash("sha256").update(prompt).digest("hex").slice(0, 8);
  return `Mock answer ${digest}: this is a deterministic reply from the bench upstream.`;
}

function chatCompletion(body) {
  const prompt = messageText(body.messages);
  const content = answerFor(prompt);
  const promptTokens = countTokens(prompt);
  const completionTokens = countTokens(content);
  return {
    id: `chatcmpl-mock-${createHash("sha1").update(prompt).digest("hex").slice(0, 12)}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: body.model ?? "mock",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop", logprobs: null }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

function writeStream(res, body) {
  const full = chatCompletion(body);
  const base = { id: full.id, object: "chat.completion.chunk", created: full.created, model: full.model };
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  const send = (obj) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
  send({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
  // Word-sized chunks, like a real provider, so a gateway's stream handling is actually exercised.
  for (const piece of full.choices[0].message.content.match(/\S+\s*/g) ?? []) {
    send({ ...base, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] });
  }
  send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });
  if (body.stream_options?.include_usage) send({ ...base, choices: [], usage: full.usage });
  res.end("data: [DONE]\n\n");
}

function embeddingFor(text, dims) {
  // Expand a hash into `dims` values in [-1, 1], then normalise so cosine similarity behaves.
  const values = [];
  for (let block = 0; values.length < dims; block++) {
    const bytes = createHash("sha256").update(`${block}:${text}`).digest();
    for (const b of bytes) if (values.length < dims) values.push(b / 127.5 - 1);
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((v) => v / norm);
}

function embeddings(body) {
  const inputs = Array.isArray(body.input) ? body.input : [body.input ?? ""];
  const dims = Number.isInteger(body.dimensions) && body.dimensions > 0 ? body.dimensions : DEFAULT_EMBEDDING_DIMS;
  const data = inputs.map((input, index) => ({ object: "embedding", index, embedding: embeddingFor(String(input), dims) }));
  const tokens = inputs.reduce((sum, input) => sum + countTokens(String(input)), 0);
  return { object: "list", data, model: body.model ?? "mock-embedding", usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

function sendJson(res, status, obj) {
  const payload = JSON.stringify(obj);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
  res.end(payload);
}

const openAiError = (message, code) => ({ error: { message, type: "invalid_request_error", code, param: null } });

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function startMockUpstream({ port = 0, host = "127.0.0.1", latencyMs = 0 } = {}) {
  // Counters let a scenario prove its requests really reached the upstream (e.g. nothing was cached).
  const stats = { chat: 0, chatStream: 0, embeddings: 0, other: 0 };
  const delay = () => (latencyMs > 0 ? new Promise((r) => setTimeout(r, latencyMs)) : null);

  const server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/__stats") return sendJson(res, 200, stats);
    if (req.method === "GET" && (path === "/health" || path === "/v1/models")) {
      return sendJson(res, 200, { object: "list", data: [{ id: "gpt-4o-mini", object: "model", owned_by: "mock" }] });
    }
    if (req.method !== "POST" || (path !== "/v1/chat/completions" && path !== "/v1/embeddings")) {
      stats.other++;
      return sendJson(res, 404, openAiError(`no route for ${req.method} ${path}`, "not_found"));
    }
    let body;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      stats.other++;
      return sendJson(res, 400, openAiError("body is not valid JSON", "invalid_request"));
    }
    await delay();
    if (path === "/v1/embeddings") {
      stats.embeddings++;
      return sendJson(res, 200, embeddings(body));
    }
    if (body.stream === true) {
      stats.chatStream++;
      return writeStream(res, body);
    }
    stats.chat++;
    return sendJson(res, 200, chatCompletion(body));
  });
  // Load generators hold connections open between requests; don't let Node reap them mid-run.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const { port: bound } = server.address();
      resolve({
        url: `http://${host}:${bound}`,
        stats: async () => ({ ...stats }),
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections?.();
          }),
      });
    });
  });
}

// Same interface as startMockUpstream, but the server lives in a child process.
export function spawnMockUpstream({ port = 0, latencyMs = 0, startTimeoutMs = 10_000 } = {}) {
  const child = fork(SELF, ["--port", String(port), "--latency-ms", String(latencyMs), "--ipc"], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`mock upstream did not start within ${startTimeoutMs} ms`));
    }, startTimeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`mock upstream exited early with code ${code}`));
    });
    child.once("message", ({ url }) => {
      clearTimeout(timer);
      resolve({
        url,
        stats: async () => (await fetch(`${url}/__stats`)).json(),
        close: () =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const force = setTimeout(() => child.kill("SIGKILL"), 3_000);
            child.once("exit", () => {
              clearTimeout(force);
              done();
            });
            child.kill("SIGTERM");
          }),
      });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8790" },
      "latency-ms": { type: "string", default: "0" },
      ipc: { type: "boolean", default: false },
    },
  });
  const mock = await startMockUpstream({ port: Number(values.port), latencyMs: Number(values["latency-ms"]) });
  if (values.ipc && process.send) process.send({ url: mock.url });
  else console.log(`mock upstream listening on ${mock.url} (POST /v1/chat/completions, /v1/embeddings)`);
  const shutdown = () => mock.close().then(() => process.exit(0));
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  // A forked child must not outlive a parent that died without closing it.
  if (values.ipc) process.on("disconnect", shutdown);
}
