// Writes a run's results as bench/results/<date>.json (for machines and later comparison) and
// <date>.md (for people), each via a temp file and a rename so a crash never leaves half a report.
import { execFileSync } from "node:child_process";
import { mkdir, rename, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const RESULTS_DIR = join(ROOT, "bench", "results");

function git(args) {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    // No git, or a repo with no commits yet: the report just says so.
    return null;
  }
}

export function describeMachine() {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0]?.model ?? "unknown",
    cpuCount: cpus.length,
    memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    loadAvg: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

export function describeRun() {
  const sha = git(["rev-parse", "HEAD"]);
  return {
    node: process.version,
    gitSha: sha,
    gitDirty: sha ? git(["status", "--porcelain"]) !== "" : null,
  };
}

// Local date, because "today's results" should match the calendar of the person running it.
export function localDate(d = new Date()) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function renderMarkdown(report, scenarioByName) {
  const m = report.machine;
  const lines = [
    `# Tollgate bench, ${report.date}`,
    "",
    `- started: ${report.startedAt}, took ${report.totalSeconds} s`,
    `- machine: ${m.cpuModel} × ${m.cpuCount}, ${m.memoryGiB} GiB, ${m.platform}; load average at start ${m.loadAvg.join(" / ")}`,
    `- node ${report.node}; git ${report.gitSha ? report.gitSha.slice(0, 12) + (report.gitDirty ? " (dirty)" : "") : "n/a"}`,
    `- options: ${JSON.stringify(report.options)}`,
    `- status: **${report.ok ? "ok" : "FAILED"}**`,
  ];
  for (const s of report.scenarios) {
    lines.push("", `## ${s.name}`, "", s.description ?? "", "");
    if (s.error) {
      lines.push("**Error:**", "", "```", s.error, "```");
      continue;
    }
    const scenario = scenarioByName.get(s.name);
    lines.push(scenario ? scenario.toMarkdown(s.result) : "```json\n" + JSON.stringify(s.result, null, 2) + "\n```");
  }
  return lines.join("\n") + "\n";
}

async function atomicWrite(path, text) {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

export async function writeReport(report, markdown) {
  await mkdir(RESULTS_DIR, { recursive: true });
  // A run of one scenario (`--only x`) gets a file of its own, so it never overwrites the day's full run.
  const only = report.scenarios.length === 1 ? `-${report.scenarios[0].name}` : "";
  const base = join(RESULTS_DIR, `${report.date}${only}`);
  await atomicWrite(`${base}.json`, JSON.stringify(report, null, 2) + "\n");
  await atomicWrite(`${base}.md`, markdown);
  return { json: `${base}.json`, md: `${base}.md` };
}
