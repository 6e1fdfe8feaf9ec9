import { describe, expect, it } from "vitest";
import { ERR, ERROR_CODES, errorEntry, isRetryable, WmsError } from "../schemas/index.ts";
import { runCli } from "./support/run-cli.ts";

describe("error-code registry", () => {
  it("holds MyProxy's credential codes with their meaning", () => {
    for (const code of [2100, 2101, 2102, 2103, 2104, 2105, 2106, 2200, 2201, 2202, 2203, 2300, 2301, 2400]) {
      expect(errorEntry(code)?.category, String(code)).toBe("credentials");
    }
    expect(errorEntry(2400)?.message).toBe("MyProxyError: security violation. Logname and DN do not match");
    expect(errorEntry(2301)?.message).toBe("MyProxyError: proxy retrieval failed");
  });

  it("has unique codes and names, each inside its category's range", () => {
    expect(new Set(ERROR_CODES.map((e) => e.code)).size).toBe(ERROR_CODES.length);
    expect(new Set(ERROR_CODES.map((e) => e.name)).size).toBe(ERROR_CODES.length);
    const ranges: Record<string, [number, number]> = {
      general: [1000, 1099], pilot: [1100, 1199], "stage-in": [1200, 1299], "stage-out": [1300, 1399], payload: [1400, 1499],
      matchmaker: [1500, 1599], intake: [1600, 1699], security: [1700, 1799], "site-authz": [1800, 1899], reports: [1900, 1999], credentials: [2100, 2499],
    };
    for (const e of ERROR_CODES) {
      const [lo, hi] = ranges[e.category];
      expect(e.code >= lo && e.code <= hi, `${e.code} ${e.category}`).toBe(true);
    }
  });

  it("rebuilds an error that crossed a wire without repeating its registry text", () => {
    const sent = new WmsError(ERR.STAGEOUT_NO_OUTPUT, "nothing in outputs/");
    const back = WmsError.fromReply(sent.toReply());
    expect(back.code).toBe(ERR.STAGEOUT_NO_OUTPUT);
    expect(back.message).toBe("The payload produced no output file: nothing in outputs/");
    expect(WmsError.fromReply({ code: ERR.TIMEOUT, message: "The request timed out" }).message).toBe("The request timed out");
  });

  it("says which failures a retry can cure", () => {
    expect(isRetryable(ERR.STAGEIN_CHECKSUM_MISMATCH)).toBe(true);
    expect(isRetryable(ERR.MYPROXY_DN_MISMATCH)).toBe(false);
    expect(isRetryable(99999)).toBe(false);
  });

  it("`wms errors 2400` prints the entry and `wms errors 9999` fails with a clear line", async () => {
    const ok = await runCli(["errors", "2400"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("Logname and DN do not match");
    const bad = await runCli(["errors", "9999"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^wms: error E1005 NOT_FOUND: .*9999/);
    expect(bad.stderr).not.toContain("    at ");
  });

  it("`wms errors --json` lists the whole table", async () => {
    const r = await runCli(["errors", "--json"]);
    expect(JSON.parse(r.stdout)).toHaveLength(ERROR_CODES.length);
  });
});
