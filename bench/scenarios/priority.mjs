// Issue 6 scenario: does a surge of batch work starve interactive work? 20 interactive jobs are timed
// with no other load, then again right after 1,000 batch jobs were queued, then (for reference) the
// same 20 sent to the batch lane behind what is left of the backlog, i.e. what they would get with
// one shared lane.
//
// The scenario boots its own gateway with SIM_LATENCY_SCALE=1: with the bench default of 0 the sim
// answers instantly, a batch job costs only its D1 writes and the backlog drains before it can get in
// anyone's way. At scale 1 a fast-tier call takes about 120 ms to first token plus 2 ms per token,
// like a small hosted model, so 1,000 batch jobs are a real backlog.
import { percentile } from "../load-driver.mjs";
import { startGateway } from "../gateway.mjs";

const BATCH_JOBS = 1000;
const INTERACTIVE_JOBS = 20;
// Interactive jobs arrive spread out, as user-facing work does, rather than as one burst.
const SPACING_MS = 100;
const POLL_MS = 250;
const JOB_TIMEOUT_MS = 60_000;
const DRAIN_TIMEOUT_MS = 240_000;
const TENANT = { limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 10_000 } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(url, key, path, init = {}) {
  const res = await fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...(init.headers ?? {}) },
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path} -> HTTP ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const request = (content) => ({ model: "sim/fast", max_tokens: 48, messages: [{ role: "user", content }] });

/** Submits `n` jobs spaced out, waits for each, and returns server-side completion times (finished − created). */
async function timedJobs(url, key, label, priority) {
  const waits = [];
  for (let i = 0; i < INTERACTIVE_JOBS; i++) {
    const job = await api(url, key, "/v1/jobs", { method: "POST", body: JSON.stringify({ request: request(`${label} question ${i}: what is a toll road?`), priority }) });
    waits.push(waitForJob(url, key, job.id, JOB_TIMEOUT_MS + (priority === "batch" ? DRAIN_TIMEOUT_MS : 0)));
    await sleep(SPACING_MS);
  }
  const jobs = await Promise.all(waits);
  const failed = jobs.filter((j) => j.status !== "succeeded");
  const ms = jobs.filter((j) => j.status === "succeeded").map((j) => j.finished_at - j.created_at).sort((a, b) => a - b);
  return { label, priority, n: jobs.length, failed: failed.map((j) => `${j.id}: ${j.status}`), p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms.at(-1) ?? null };
}

async function waitForJob(url, key, id, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await api(url, key, `/v1/jobs/${id}`);
    if (["succeeded", "failed", "dead", "cancelled"].includes(job.status)) return job;
    if (Date.now() > deadline) return { ...job, status: `timed out (${job.status})` };
    await sleep(POLL_MS);
  }
}

const backlog = async (url, key, batchId) => (await api(url, key, `/v1/batches/${batchId}`)).request_counts;

export default {
  name: "priority",
  description: `${INTERACTIVE_JOBS} interactive jobs: completion p50/p99 alone vs right after ${BATCH_JOBS} batch jobs (sim latency on).`,

  async run(ctx) {
    if (ctx.options.directOnly) return { skipped: "needs the gateway", failures: [] };
    const mock = await ctx.mock();
    const gateway = await startGateway({ upstreamUrl: mock.url, vars: { SIM_LATENCY_SCALE: "1" }, log: ctx.log });
    // The shared teardown does not know this gateway: stop it on Ctrl-C too (the first signal is sync).
    const onSignal = () => void gateway.stop();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    const failures = [];
    try {
      const { key } = await gateway.createTenantKey("bench-priority", TENANT);
      const url = gateway.url;
      ctx.log("priority: warming up");
      await waitForJob(url, key, (await api(url, key, "/v1/jobs", { method: "POST", body: JSON.stringify({ request: request("warm up"), priority: "interactive" }) })).id, JOB_TIMEOUT_MS);

      ctx.log(`priority: ${INTERACTIVE_JOBS} interactive jobs, no other load`);
      const alone = await timedJobs(url, key, "alone", "interactive");

      ctx.log(`priority: queueing ${BATCH_JOBS} batch jobs`);
      const requests = Array.from({ length: BATCH_JOBS }, (_, i) => ({ custom_id: `b${i}`, body: request(`batch item ${i}: summarise the history of toll roads`) }));
      const t0 = Date.now();
      const batch = await api(url, key, "/v1/batches", { method: "POST", body: JSON.stringify({ requests, off_peak: false }) });
      const submitMs = Date.now() - t0;

      ctx.log(`priority: ${INTERACTIVE_JOBS} interactive jobs behind the batch backlog`);
      const loaded = await timedJobs(url, key, "loaded", "interactive");
      const backlogAfterInteractive = await backlog(url, key, batch.id);

      ctx.log("priority: the same jobs on the batch lane (one shared lane, for reference)");
      const sharedLane = await timedJobs(url, key, "shared-lane", "batch");

      const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
      let counts = await backlog(url, key, batch.id);
      while (counts.completed < counts.total && Date.now() < drainDeadline) {
        await sleep(1_000);
        counts = await backlog(url, key, batch.id);
      }
      const drainS = (Date.now() - t0) / 1000;
      if (counts.completed < counts.total) failures.push(`the batch did not drain within ${DRAIN_TIMEOUT_MS / 1000}s: ${JSON.stringify(counts)}`);
      for (const row of [alone, loaded, sharedLane]) if (row.failed.length) failures.push(`${row.label}: ${row.failed.length} job(s) did not succeed: ${row.failed.slice(0, 3).join(", ")}`);
      if (loaded.p50 != null && alone.p50 != null && loaded.p50 > 3 * alone.p50 + 500) failures.push(`interactive jobs were starved: p50 ${loaded.p50} ms under batch load vs ${alone.p50} ms alone`);

      return {
        config: { batchJobs: BATCH_JOBS, interactiveJobs: INTERACTIVE_JOBS, spacingMs: SPACING_MS, simLatencyScale: 1, model: "sim/fast", maxTokens: 48 },
        alone,
        loaded,
        sharedLane,
        batch: { id: batch.id, submitMs, backlogAfterInteractive, final: counts, drainS: Number(drainS.toFixed(1)) },
        failures,
      };
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await gateway.stop();
    }
  },

  toMarkdown(result) {
    if (result.skipped) return `Skipped: ${result.skipped}.`;
    const f = (v) => (v == null ? "n/a" : String(Math.round(v)));
    const b = result.batch;
    const lines = [
      `${result.config.interactiveJobs} jobs (\`${result.config.model}\`, max_tokens ${result.config.maxTokens}), one every ${result.config.spacingMs} ms; ` +
        `completion = the job's finished_at − created_at (server clocks). SIM_LATENCY_SCALE=1. With 20 samples, p99 is the slowest job.`,
      "",
      "| jobs | lane | p50 ms | p99 ms | failed |",
      "| --- | --- | ---: | ---: | ---: |",
      ...[
        ["interactive, no other load", result.alone],
        [`interactive, right after ${result.config.batchJobs} batch jobs`, result.loaded],
        ["same jobs on the batch lane, behind the backlog (one shared lane)", result.sharedLane],
      ].map(([label, r]) => `| ${label} | ${r.priority} | ${f(r.p50)} | ${f(r.p99)} | ${r.failed.length} |`),
      "",
      `The ${result.config.batchJobs} batch jobs were accepted in ${b.submitMs} ms (one POST /v1/batches, off_peak false). ` +
        `When the last loaded interactive job finished, ${b.backlogAfterInteractive.completed} of ${b.backlogAfterInteractive.total} batch jobs were done; ` +
        `the whole batch drained ${b.drainS} s after submission (${b.final.succeeded} succeeded, ${b.final.failed + b.final.dead} failed).`,
    ];
    for (const x of result.failures ?? []) lines.push("", `**Failure:** ${x}`);
    return lines.join("\n");
  },
};
