// A client pointed at the gateway's origin instead of its /v1 (OPENAI_BASE_URL=http://127.0.0.1:8787, the
// commonest first-ten-minutes mistake) calls /chat/completions, /responses, ...: the OpenAI-compatible
// endpoints answer there too, by moving the request under /v1 before routing, so auth, ledger and every
// other /v1 middleware apply unchanged.
const OPENAI_PATHS = /^\/(chat\/completions|responses(\/.*)?|embeddings|models(\/.*)?)$/;

export function withApiPrefix(request: Request): Request {
  // Every request passes here: the path is sliced out of the (already normalised) URL string rather
  // than parsed into a URL object, and the common case, a path under /v1/, returns at once.
  const url = request.url;
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0 || url.startsWith("/v1/", start)) return request;
  const query = url.indexOf("?", start);
  const path = query < 0 ? url.slice(start) : url.slice(start, query);
  if (!OPENAI_PATHS.test(path)) return request;
  return new Request(`${url.slice(0, start)}/v1${url.slice(start)}`, request);
}
