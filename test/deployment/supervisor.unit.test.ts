import { describe, expect, it } from "vitest";
import { Supervisor, type ChildSpec } from "../../deployment/supervisor.ts";
import { READY_MESSAGE } from "../../deployment/ready-message.ts";
import { isAlive, processRef } from "../../deployment/up-state.ts";

/** A child that is a few lines of JavaScript, so the test controls how it lives and dies. */
function nodeChild(name: string, script: string, ready: ChildSpec["ready"] = "spawn"): ChildSpec {
  return { name, command: process.execPath, args: ["-e", script], cwd: process.cwd(), env: process.env, ready };
}

function recorder(): { events: string[]; lines: string[]; o: ConstructorParameters<typeof Supervisor>[0] } {
  const events: string[] = [];
  const lines: string[] = [];
  return { events, lines, o: { onEvent: (m) => void events.push(m), onLine: (p, l) => void lines.push(`${p}: ${l}`), backoff: { initialMs: 100, maxMs: 400, stableMs: 60_000 } } };
}

describe("the supervisor of wms up", () => {
  it("restarts a child that crashes, with a back-off that doubles up to its cap, and says so", async () => {
    const r = recorder();
    const sup = new Supervisor(r.o);
    // Ready, then dies 50 ms later, every time.
    await sup.start(nodeChild("crasher", `console.log("alive " + process.pid); setTimeout(() => process.exit(3), 50);`));
    await expect.poll(() => sup.status()[0].restarts, { timeout: 15_000 }).toBeGreaterThanOrEqual(4);
    await sup.stop();
    const restarts = r.events.filter((e) => e.startsWith("crasher exited (code 3)"));
    expect(restarts[0]).toMatch(/restarting in 0\.1 s \(restart 1\)/);
    expect(restarts[1]).toMatch(/restarting in 0\.2 s \(restart 2\)/);
    expect(restarts[2]).toMatch(/restarting in 0\.4 s \(restart 3\)/);
    expect(restarts[3]).toMatch(/restarting in 0\.4 s \(restart 4\)/);
    expect(r.events.some((e) => /^crasher is running again \(pid \d+\)$/.test(e))).toBe(true);
    // Every run's output reached the log, prefixed with the child's name.
    expect(new Set(r.lines.filter((l) => l.startsWith("crasher: alive "))).size).toBeGreaterThanOrEqual(4);
  });

  it("waits for a service's ready message, and fails a first start that exits before it with the child's own error line", async () => {
    const r = recorder();
    const sup = new Supervisor(r.o);
    await sup.start(nodeChild("svc", `setTimeout(() => process.send(${JSON.stringify(READY_MESSAGE)}), 200); setInterval(() => {}, 1000);`, "message"));
    expect(sup.status()[0].state).toBe("running");
    await expect(sup.start(nodeChild("broken", `console.error("wms: error E1002 BAD_CONFIG: wms.yaml: nope"); process.exit(1);`, "message"))).rejects.toThrow(
      "broken exited before it was ready: wms: error E1002 BAD_CONFIG: wms.yaml: nope",
    );
    expect(sup.status().find((c) => c.name === "broken")?.state).toBe("failed");
    await sup.stop();
    expect(sup.status().every((c) => c.state === "stopped" || c.state === "failed")).toBe(true);
  });

  it("stops children by process group, SIGKILL after the grace for one that ignores SIGTERM, and does not restart them", async () => {
    const r = recorder();
    const sup = new Supervisor({ ...r.o, stopGraceMs: 500 });
    // The child starts a grandchild in its own process group, as a service starting helpers would.
    const stubborn = `process.on("SIGTERM", () => {}); const g = require("node:child_process").spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" }); console.log("grandchild " + g.pid); process.send(${JSON.stringify(READY_MESSAGE)}); setInterval(() => {}, 1000);`;
    await sup.start(nodeChild("stubborn", stubborn, "message"));
    await sup.start(nodeChild("polite", `setInterval(() => {}, 1000);`));
    await expect.poll(() => r.lines.find((l) => l.startsWith("stubborn: grandchild "))).toBeDefined();
    const grandchild = Number(r.lines.find((l) => l.startsWith("stubborn: grandchild "))?.split(" ")[2]);
    const pids = [...sup.status().map((c) => processRef(c.pid as number)), processRef(grandchild)];
    await sup.stop([["stubborn"]]);
    for (const p of pids) expect(isAlive(p)).toBe(false);
    expect(r.events.some((e) => e.startsWith("stubborn did not stop within 0.5 s; killed"))).toBe(true);
    expect(r.events.some((e) => e.includes("restarting"))).toBe(false);
  });
});
