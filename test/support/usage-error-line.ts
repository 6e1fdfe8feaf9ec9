// What every `wms` usage error looks like: one line on stderr with its registry code, nothing on
// stdout, no stack trace, exit 2.
import { expect } from "vitest";
import { ERR } from "../../schemas/index.ts";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

const ONE_CODED_LINE = /^wms: error E(\d{4}) [A-Z0-9_]+: .+$/;

export function expectUsageError(r: CliRun, label: string, code: number = ERR.USAGE): void {
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, `${label}: ${r.stderr}`).toHaveLength(1);
  expect(lines[0], label).toMatch(ONE_CODED_LINE);
  expect(lines[0], label).toContain(`E${code} `);
  expect(r.stderr, label).not.toMatch(/^\s+at /m);
  expect(r.stdout, label).toBe("");
  expect(r.code, label).toBe(2);
}
