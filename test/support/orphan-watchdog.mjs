// Stops the test run's private servers when the process that started them is gone without stopping
// them: a CI job cancelled with SIGTERM or SIGKILL ends vitest before its global teardown runs, and
// nats-server, redis-server, RabbitMQ's beam and its epmd would run on, each in a process group of
// its own (platform/local-services.ts), holding ports and a temporary folder.
// Plain JavaScript, started detached by auth-run.ts: `node orphan-watchdog.mjs PARENT_PID ROOT`.
// It polls the parent once a second. `ROOT/pids.json` lists the servers' process groups, each with
// its kernel start time (a pid reused since is not ours); a server still starting when the parent
// died (not listed yet) is found by its data folder under ROOT in its command line or environment.
// Only these are signalled: never anything by name, never the machine's shared services.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { clearInterval, setInterval, setTimeout } from "node:timers";

const [parentArg, root] = process.argv.slice(2);
const parent = Number(parentArg);
// Only a run's own folder (auth-run.ts's mkdtemp): a wrong argument must never widen what is swept.
if (!Number.isInteger(parent) || parent <= 1 || !root || !/\/wms-test-auth-[^/]+$/.test(root)) process.exit(2);
const serverDirs = ["nats", "redis", "rabbitmq"].map((d) => join(root, d));

/** Field 22 of /proc/PID/stat, as platform/process-identity.ts reads it (this plain script cannot import TypeScript). */
function startTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Gone, or a zombie its parent has not reaped yet (it runs nothing any more). */
function exited(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

function listed() {
  try {
    const groups = JSON.parse(readFileSync(join(root, "pids.json"), "utf8"));
    return groups.filter((g) => Number.isInteger(g.pid) && startTicks(g.pid) === g.startTicks).map((g) => g.pid);
  } catch {
    return [];
  }
}

/** Processes that name a server's data folder in their arguments or environment (one between spawn and pids.json). */
function underRoot() {
  const found = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const text = readFileSync(`/proc/${pid}/cmdline`, "utf8") + "\0" + readFileSync(`/proc/${pid}/environ`, "utf8");
      if (serverDirs.some((d) => text.includes(d))) found.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

function signal(pid, sig, group) {
  try {
    process.kill(group ? -pid : pid, sig);
  } catch {
    // already gone
  }
}

async function sweep() {
  const groups = listed();
  const loose = underRoot().filter((p) => !groups.includes(p));
  for (const g of groups) signal(g, "SIGTERM", true);
  for (const p of loose) signal(p, "SIGTERM", false);
  const until = Date.now() + 10_000;
  while (Date.now() < until && [...groups, ...loose].some(alive)) await new Promise((r) => setTimeout(r, 200));
  for (const g of groups) signal(g, "SIGKILL", true);
  for (const p of loose) if (alive(p)) signal(p, "SIGKILL", false);
  rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}

const parentTicks = startTicks(parent);
const timer = setInterval(() => {
  if (!exited(parent) && startTicks(parent) === parentTicks) return;
  clearInterval(timer);
  void sweep().then(() => process.exit(0));
}, 1000);
// A clean end of the run stops the watchdog itself (SIGTERM from auth-run.ts's teardown).
process.on("SIGTERM", () => process.exit(0));
