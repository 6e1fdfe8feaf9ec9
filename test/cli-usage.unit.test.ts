// Every usage error of every `wms` command is one line with its registry code and exit 2. The
// cases are generated from the command tree itself (so commands added later are covered too) and
// run in this process through the CLI's own runner (cli-usage.test.ts runs the real binary).
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Command, Option } from "commander";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { buildProgram, runWms } from "../cli/program.ts";
import { ERR, ERROR_CODES } from "../schemas/index.ts";
import { REPO_ROOT } from "./support/run-cli.ts";
import { expectUsageError } from "./support/usage-error-line.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `wms ARGS` in this process, capturing what it writes. */
async function wms(args: string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await runWms(args);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}

// ---- the command tree --------------------------------------------------------------------

function leaves(cmd: Command, path: string[] = []): Array<{ path: string[]; cmd: Command }> {
  if (cmd.commands.length === 0) return [{ path, cmd }];
  return cmd.commands.flatMap((c) => leaves(c, [...path, c.name()]));
}

/** Commander keeps a command's action private; a group with one of its own (`wms errors`) is also a command. */
const hasAction = (cmd: Command): boolean => (cmd as unknown as { _actionHandler: unknown })._actionHandler != null;

/** Commands that only hold subcommands. */
function groups(cmd: Command, path: string[] = []): Array<{ path: string[]; cmd: Command }> {
  const here = cmd.commands.length > 0 && path.length > 0 && !hasAction(cmd) ? [{ path, cmd }] : [];
  return [...here, ...cmd.commands.flatMap((c) => groups(c, [...path, c.name()]))];
}

/** Commands that have subcommands and take no argument of their own, so any other word is a mistake. */
function withSubcommands(cmd: Command, path: string[] = []): Array<{ path: string[]; cmd: Command }> {
  const here = cmd.commands.length > 0 && cmd.registeredArguments.length === 0 ? [{ path, cmd }] : [];
  return [...here, ...cmd.commands.flatMap((c) => withSubcommands(c, [...path, c.name()]))];
}

const takesValue = (o: Option): boolean => o.required || o.optional;

/** A value the option's own parser accepts ("x" for plain strings). */
function acceptedValue(o: Option): string {
  for (const v of ["x", "1", "/x", "user", "site"]) {
    try {
      o.parseArg?.(v, o.defaultValue as never);
      return v;
    } catch {
      // try the next
    }
  }
  throw new Error(`no test value for ${o.flags}`);
}

function rejects(o: Option, v: string): boolean {
  if (!o.parseArg) return false;
  try {
    o.parseArg(v, o.defaultValue as never);
    return false;
  } catch {
    return true;
  }
}

const flag = (o: Option): string => o.long ?? o.short ?? o.flags;

function requiredOptionArgs(cmd: Command, except?: Option): string[] {
  return cmd.options.filter((o) => o.mandatory && o !== except).flatMap((o) => [flag(o), acceptedValue(o)]);
}

function argumentArgs(cmd: Command): string[] {
  return cmd.registeredArguments.filter((a) => a.required).map(() => "x");
}

interface Case {
  label: string;
  args: string[];
  code?: number;
}

/** The whole command tree, every group loaded. */
const FULL_PROGRAM = await buildProgram();

function generatedCases(): Case[] {
  const program = FULL_PROGRAM;
  const cases: Case[] = [
    { label: "unknown command", args: ["frobnicate"] },
    { label: "help for an unknown command", args: ["help", "frobnicate"] },
    { label: "unknown global option", args: ["--frobnicate"] },
    { label: "global option without its value", args: ["--config"] },
  ];
  for (const { path } of groups(program)) {
    cases.push({ label: `${path.join(" ")}: no subcommand`, args: path });
  }
  // Every command with subcommands, a group with an action of its own (`wms pilot`) included,
  // refuses a word that names none of them, even when --help follows it.
  for (const { path } of withSubcommands(program)) {
    for (const tail of [[], ["--help"], ["-h"]]) cases.push({ label: `${path.join(" ")}: unknown subcommand ${tail.join(" ")}`, args: [...path, "frobnicate", ...tail] });
  }
  for (const { path, cmd } of leaves(program)) {
    const name = path.join(" ");
    const args = argumentArgs(cmd);
    const required = requiredOptionArgs(cmd);
    cases.push({ label: `${name}: unknown option`, args: [...path, ...args, ...required, "--frobnicate"] });
    const variadic = cmd.registeredArguments.some((a) => a.variadic);
    const all = cmd.registeredArguments.map(() => "x");
    if (!variadic) cases.push({ label: `${name}: one argument too many`, args: [...path, ...all, "extra-arg", ...required] });
    if (args.length > 0) cases.push({ label: `${name}: missing argument`, args: [...path, ...required] });
    for (const o of cmd.options) {
      if (o.mandatory) cases.push({ label: `${name}: missing required ${flag(o)}`, args: [...path, ...args, ...requiredOptionArgs(cmd, o)] });
      if (o.required) cases.push({ label: `${name}: ${flag(o)} without its value`, args: [...path, ...args, ...requiredOptionArgs(cmd, o), flag(o)] });
      if (takesValue(o) && rejects(o, "not-a-value!")) {
        const code = /port/.test(flag(o)) ? ERR.BAD_PORT : ERR.USAGE;
        cases.push({ label: `${name}: bad value for ${flag(o)}`, args: [...path, ...args, ...requiredOptionArgs(cmd, o), flag(o), "not-a-value!"], code });
      }
    }
  }
  return cases;
}

// Usage errors found by the commands themselves (after commander's parsing): same shape.
const ACTION_CASES: Case[] = [
  { label: "errors: unknown category", args: ["errors", "--category", "nosuch"], code: ERR.UNKNOWN_CATEGORY },
  { label: "pki issue: unknown kind", args: ["pki", "issue", "--dir", "d", "--kind", "robot", "--dn", "/CN=x"] },
  { label: "pki issue: DN not in slash form", args: ["pki", "issue", "--dir", "d", "--kind", "user", "--dn", "CN=x"] },
  { label: "pki revoke: neither --cert nor --serial", args: ["pki", "revoke", "--dir", "d"] },
  { label: "pki revoke: both --cert and --serial", args: ["pki", "revoke", "--dir", "d", "--cert", "c", "--serial", "1a"] },
  { label: "pki revoke: unknown reason", args: ["pki", "revoke", "--dir", "d", "--serial", "1a", "--reason", "boredom"] },
  { label: "proxy init: bad retriever", args: ["proxy", "init", "--cert", "c", "--key", "k", "--retriever", "anyone"] },
  { label: "proxy init: lifetime under min-left", args: ["proxy", "init", "--cert", "c", "--key", "k", "--lifetime", "1", "--min-left", "2"] },
  { label: "pilot: no --site", args: ["pilot", "--token", "t".repeat(20)] },
  { label: "pilot: no token", args: ["pilot", "--site", "S"] },
  { label: "pilot: cert without key", args: ["pilot", "--site", "S", "--token", "t".repeat(20), "--pilot-cert", "c"] },
  { label: "site authz check: DN not in slash form", args: ["site", "authz", "check", "--site", "S", "--dn", "CN=x"] },
  { label: "replica add: malformed --file", args: ["replica", "add", "ds", "--site", "S", "--file", "x.root:12:zz:00"] },
  { label: "replica add: nothing to add", args: ["replica", "add", "ds", "--site", "S"] },
  { label: "replica add: dataset name with a space", args: ["replica", "add", "my ds", "--site", "S", "--file", `x.root:12:${"0".repeat(8)}:${"0".repeat(32)}`] },
  { label: "factory run: no factory file", args: ["factory", "run", "--once"] },
  { label: "help: a word naming no command of a group", args: ["help", "factory", "frobnicate"] },
  // A value no queue may have is refused before any factory or queue is looked up.
  { label: "factory set: negative rate", args: ["factory", "set", "q", "pilotsPerMinute=-1"] },
  { label: "factory set: rate over the maximum", args: ["factory", "set", "q", "pilotsPerMinute=6001"] },
  { label: "factory set: fractional count", args: ["factory", "set", "q", "maxPending=2.5"] },
  { label: "agents: unknown agent", args: ["agents", "--only", "janitor"] },
  { label: "accounting report: unknown grouping", args: ["accounting", "report", "--by", "planet"] },
  { label: "monitor: port out of range", args: ["monitor", "--port", "65536"], code: ERR.BAD_PORT },
  { label: "demo: negative monitor port", args: ["demo", "--monitor-port", "-1"], code: ERR.BAD_PORT },
];

describe("wms usage errors", () => {
  const saved = { token: process.env.WMS_PILOT_TOKEN, config: process.env.WMS_CONFIG };
  beforeAll(() => {
    delete process.env.WMS_PILOT_TOKEN;
    delete process.env.WMS_CONFIG;
  });
  afterAll(() => {
    if (saved.token !== undefined) process.env.WMS_PILOT_TOKEN = saved.token;
    if (saved.config !== undefined) process.env.WMS_CONFIG = saved.config;
  });
  afterEach(() => {
    process.exitCode = undefined;
  });

  it("covers every command of the tree", () => {
    const cases = generatedCases();
    const program = FULL_PROGRAM;
    for (const { path } of leaves(program)) expect(cases.some((c) => c.args.slice(0, path.length).join(" ") === path.join(" ") && c.label.includes("unknown option"))).toBe(true);
    expect(cases.length).toBeGreaterThan(100);
  });

  it("prints one line with its code and exits 2 for every commander-detected usage error of every command", async () => {
    for (const c of generatedCases()) expectUsageError(await wms(c.args), c.label, c.code);
  });

  it("prints one line with its code and exits 2 for the usage errors the commands check themselves", async () => {
    for (const c of ACTION_CASES) expectUsageError(await wms(c.args), c.label, c.code);
  });

  it("names the command to ask for help and, for a group, its subcommands", async () => {
    const r = await wms(["pki", "init"]);
    expect(r.stderr).toBe("wms: error E1008 USAGE: The command line is not valid: required option '--dir <dir>' not specified (see 'wms pki init --help')\n");
    const g = await wms(["pki"]);
    expect(g.stderr).toBe("wms: error E1008 USAGE: The command line is not valid: 'wms pki' needs a command: init, issue, revoke, crl, export, rotate-seal-key (see 'wms pki --help')\n");
  });

  it("answers an unknown subcommand followed by --help with one line naming the group's commands, not the group's help", async () => {
    const line = "wms: error E1008 USAGE: The command line is not valid: unknown command 'wms' for 'wms factory'; its commands are run, set, status (see 'wms factory --help')\n";
    for (const args of [["factory", "wms", "--help"], ["factory", "wms"], ["--config", "x.yaml", "factory", "wms", "-h"], ["factory", "help", "wms"]]) {
      const r = await wms(args);
      expect({ args, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ args, code: 2, stdout: "", stderr: line });
    }
    // A group's own argument is not a subcommand, and asking for a real one's help still works.
    expect((await wms(["errors", "1008", "--json"])).code).toBe(0);
    const help = await wms(["factory", "status", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: wms factory status");
  });

  it("refuses a listen address that is no address of this machine, or none at all, before anything starts", async () => {
    // Both were E1000 INTERNAL from getaddrinfo (ENOTFOUND) or listen (EADDRNOTAVAIL). 198.51.100.7 is TEST-NET-2 (RFC 5737).
    for (const [args, text] of [
      [["monitor", "--host", "999.1.1.1"], "--host '999.1.1.1': not an IP address or a host name"],
      [["monitor", "--host", "198.51.100.7"], "--host '198.51.100.7': not an address of this machine (its addresses: 127.0.0.1"],
      [["matchmaker", "--metrics-host", "bad host"], "--metrics-host 'bad host': not an IP address or a host name"],
    ] as const) {
      const r = await wms([...args]);
      expectUsageError(r, args.join(" "));
      expect(r.stderr).toContain(text);
    }
  });

  it("says why a file named on the command line cannot be read in the same words everywhere", async () => {
    const r = await wms(["classad", "analyze", "[ Requirements = true ]", "--machines", "/nonexistent-wms-test/machines.txt"]);
    expect(r.stderr).toBe("wms: error E1007 FILE_UNREADABLE: A file named on the command line cannot be read: cannot read the machine ads from '/nonexistent-wms-test/machines.txt': no such file (ENOENT)\n");
    expect(r.code).toBe(1);
  });

  it("answers 'wms help <command>...' with that command's help however deep, and 'wms help help' with the help command's own", async () => {
    for (const [asked, same] of [
      [["help", "factory", "set"], ["factory", "set", "--help"]],
      [["factory", "help", "set"], ["factory", "set", "--help"]],
      [["help", "factory"], ["factory", "--help"]],
    ]) {
      const r = await wms(asked);
      expect(r, asked.join(" ")).toMatchObject({ code: 0, stderr: "", stdout: (await wms(same)).stdout });
    }
    for (const [args, usage] of [
      [["help", "help"], "Usage: wms help [command...]"],
      [["factory", "help", "help"], "Usage: wms factory help [command...]"],
    ] as const) {
      const r = await wms([...args]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout.split("\n")[0]).toBe(usage);
    }
  });

  it("keeps old option spellings working, with a one-line deprecation warning", async () => {
    const r = await wms(["pilot", "--site", "S", "--workdir", "/tmp/w"]);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe("wms: warning: --workdir is deprecated; use --work-dir");
    expect(lines[1]).toMatch(/^wms: error E1008 USAGE: .*no pilot token/);
    const help = await wms(["pilot", "--help"]);
    expect(help.stdout).toContain("--work-dir");
    expect(help.stdout).not.toContain("--workdir");
    const set = await wms(["factory", "set", "q", "colour=red", "--config-file", "f.yaml"]);
    expect(set.stderr.split("\n")[0]).toBe("wms: warning: --config-file is deprecated; use --factory-file");
  });

  it("lists the error codes' categories when one is unknown, and the table when it is known", async () => {
    const r = await wms(["errors", "--category", "nosuch"]);
    for (const c of new Set(ERROR_CODES.map((e) => e.category))) expect(r.stderr).toContain(c);
    const ok = await wms(["errors", "--category", "credentials", "--json"]);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as Array<{ code: number }>).map((e) => e.code)).toContain(ERR.CREDENTIAL_NOT_STORED);
  });

  it("reports a malformed --config as E1002 BAD_CONFIG, not BAD_INPUT", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "wms-usage-"));
    try {
      const file = path.join(dir, "wms.yaml");
      writeFileSync(file, "nats: [unclosed\n  - : :\n");
      const r = await wms(["--config", file, "site", "list"]);
      expect(r.stderr).toMatch(/^wms: error E1002 BAD_CONFIG: .*wms\.yaml: not valid YAML\/JSON/);
      // It ends at the position, not at a colon whose excerpt the one line leaves out.
      expect(r.stderr).toMatch(/ at line \d+, column \d+\)\n$/);
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(r.code).toBe(1);
      writeFileSync(file, "nats: 7\n");
      expect((await wms(["--config", file, "site", "list"])).stderr).toMatch(/^wms: error E1002 BAD_CONFIG: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("documents the exit codes in the --help footer and takes its version from package.json", async () => {
    const help = await wms(["--help"]);
    expect(help.stdout).toMatch(/Exit codes:\n {2}0 {2}success\n {2}1 {2}the operation failed.*\n {2}2 {2}the command line is wrong/);
    const version = await wms(["--version"]);
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    expect(version.stdout.trim()).toBe(pkg.version);
  });
});
