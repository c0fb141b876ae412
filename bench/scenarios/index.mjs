// The scenario registry. A scenario module default-exports
//   { name, description, run(ctx) -> result, toMarkdown(result) -> string }
// and is added here; `npm run bench -- --only <name>` selects by name. A result may carry
// `failures: string[]`: the report is still written, but the run exits non-zero.
import admit from "./admit.mjs";
import cacheExact from "./cache-exact.mjs";
import cacheReplay from "./cache-replay.mjs";
import crash from "./crash.mjs";
import faults from "./faults.mjs";
import overhead from "./overhead.mjs";
import priority from "./priority.mjs";
import soak from "./soak.mjs";

export const scenarios = [overhead, admit, faults, cacheExact, cacheReplay, priority, soak, crash];
