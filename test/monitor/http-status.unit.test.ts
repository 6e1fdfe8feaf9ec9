// The monitor's answer to a failure: the status a client or a proxy acts on (retry a 503, not a 400).
import { describe, expect, it } from "vitest";
import { httpStatusFor } from "../../agents/monitor/http-status.ts";
import { ERR, toWmsError, WmsError } from "../../schemas/index.ts";

const statusOf = (e: unknown): number => httpStatusFor(toWmsError(e).code);

describe("the monitor's HTTP status for a failure", () => {
  it("answers 503 while Redis is away, 500 for its own failures, 404 for an unknown object, 405 for another method, 400 for a bad request", () => {
    expect(statusOf(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6379"), { code: "ECONNREFUSED" }))).toBe(503);
    expect(statusOf(new Error("Connection is closed."))).toBe(503);
    expect(statusOf(new TypeError("Cannot read properties of undefined"))).toBe(500);
    expect(statusOf(Object.assign(new Error("EACCES: permission denied, open '/x'"), { code: "EACCES", syscall: "open", path: "/x" }))).toBe(500);
    expect(statusOf(new WmsError(ERR.NOT_FOUND, "no job T1.000009"))).toBe(404);
    expect(statusOf(new WmsError(ERR.METHOD_NOT_ALLOWED, "POST /api/tasks"))).toBe(405);
    expect(statusOf(new WmsError(ERR.BAD_INPUT, "limit must be >= 1"))).toBe(400);
  });
});
