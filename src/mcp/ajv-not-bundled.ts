// Stands in for `ajv` and `ajv-formats` in the Worker bundle (wrangler.toml `[alias]`). The MCP SDK's
// Client and Server import its Ajv validator as their default even when given another one, and
// Tollgate always gives them @cfworker/json-schema's (`CfWorkerJsonSchemaValidator`): Ajv compiles
// validators with `new Function`, which Workers forbid, and it and ajv-formats and fast-uri were
// ~270 KiB of the bundle. Nothing calls this; if something ever does, it fails loudly instead of
// silently not validating.
const message = "ajv is not bundled in Tollgate: pass the SDK a CfWorkerJsonSchemaValidator (src/mcp/ajv-not-bundled.ts)";

export default class AjvNotBundled {
  constructor() {
    throw new Error(message);
  }
}

export function addFormats(): never {
  throw new Error(message);
}
