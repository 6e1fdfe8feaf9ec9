import { describe, expect, it } from "vitest";
import { LineFormatter } from "../../deployment/log-lines.ts";

const record = JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 2, 3, 4, 5), pid: 1, hostname: "h", svc: "matchmaker", name: "matchmaker", msg: "advert refused", site: "SITE_A" });

describe("wms up's log lines", () => {
  it("in a terminal: one readable line per pino record, prefixed with the process, without the noise fields", () => {
    const line = new LineFormatter({ json: false, colour: false }).format("matchmaker-2", record);
    expect(line).toMatch(/^matchmaker-2 +\| \[\d\d:\d\d:\d\d\.\d{3}\] WARN: advert refused \{"site":"SITE_A"\}\n$/);
    expect(line).not.toContain("hostname");
  });

  it("colours the prefix and the level when the terminal takes colour", () => {
    const line = new LineFormatter({ json: false, colour: true }).format("intake", record);
    expect(line.startsWith("\u001b[")).toBe(true);
    expect(line).toContain("advert refused");
  });

  it("keeps a command's plain lines as they are, prefixed", () => {
    expect(new LineFormatter({ json: false, colour: false }).format("monitor", "monitor on http://127.0.0.1:8080")).toBe(`${"monitor".padEnd(14)}| monitor on http://127.0.0.1:8080\n`);
  });

  it("with --json-logs: JSON lines with the process added, plain lines wrapped into records", () => {
    const f = new LineFormatter({ json: true, colour: false });
    expect(JSON.parse(f.format("matchmaker-1", record))).toMatchObject({ level: 40, msg: "advert refused", site: "SITE_A", proc: "matchmaker-1" });
    expect(JSON.parse(f.format("factory", "factory stopped", "stderr"))).toMatchObject({ level: 40, msg: "factory stopped", proc: "factory" });
    expect(JSON.parse(f.own("up: 7 processes running"))).toMatchObject({ level: 30, msg: "up: 7 processes running", proc: "up" });
  });
});
