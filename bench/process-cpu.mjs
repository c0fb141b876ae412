// CPU time of a process group (wrangler and the workerd processes it starts share its group, because
// bench/gateway.mjs spawns wrangler detached), read from /proc. Linux only; elsewhere it reports null.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

let ticksPerSecond = null;
function clockTicks() {
  if (ticksPerSecond == null) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

// Fields after the command name, which is in parentheses and may itself hold spaces or parentheses.
function statFields(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  fields.name = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
  return fields;
}

/** { ms, pids, byName }: user + system CPU of every live process in group `pgid`, in milliseconds, also per command name. */
export function groupCpu(pgid) {
  let names;
  try {
    names = readdirSync("/proc");
  } catch {
    return null;
  }
  let ticks = 0;
  const pids = [];
  const byName = {};
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let f;
    try {
      f = statFields(name);
    } catch {
      continue; // exited between readdir and read
    }
    // f[0] is state (field 3), so pgrp (field 5) is f[2], utime (14) f[11], stime (15) f[12].
    if (Number(f[2]) !== pgid) continue;
    const t = Number(f[11]) + Number(f[12]);
    ticks += t;
    byName[f.name] = (byName[f.name] ?? 0) + (t * 1000) / clockTicks();
    pids.push(Number(name));
  }
  return { ms: (ticks * 1000) / clockTicks(), pids, byName };
}
