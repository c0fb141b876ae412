// A client pointed at the gateway's origin instead of its /v1 (OPENAI_BASE_URL=http://127.0.0.1:8787, the
// commonest first-ten-minutes mistake) calls /chat/completions, /responses, ...: the OpenAI-compatible
// endpoints answer there too, by moving the request under /v1 before routing, so auth, ledger and every
// other /v1 middleware apply unchanged.
const OPENAI_PATHS = /^\/(chat\/completions|responses(\/.*)?|embeddings|models(\/.*)?)$/;

export function withApiPrefix(request: Request): Request {
  const url = new URL(request.url);
  if (!OPENAI_PATHS.test(url.pathname)) return request;
  url.pathname = `/v1${url.pathname}`;
  return new Request(url, request);
}
