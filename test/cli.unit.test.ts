import { spawn } from "node:child_process";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { stopHint } from "../cli/command-kit.ts";
import { COMMAND_GROUPS } from "../cli/commands/index.ts";
import { buildProgram } from "../cli/program.ts";
import { UP_SUPERVISOR_ENV } from "../deployment/ready-message.ts";
import { TUNABLE_KNOBS } from "../pilot-factory/index.ts";
import { runCli, WMS_BIN } from "./support/run-cli.ts";

describe("wms CLI", () => {
  it("lists every command of the design in --help", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    // In a deployment folder the namespace is wms.yaml's, not 'wms'.
    expect(r.stdout).toMatch(/--namespace <ns> +deployment namespace for subjects, queues and keys\s+\(default: the namespace in wms\.yaml, else wms\)/);
    for (const c of ["services", "errors", "classad", "pki", "proxy", "credentials", "site", "replica", "task", "intake", "matchmaker", "pilot", "factory", "agents", "accounting", "monitor", "demo"]) {
      expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, "m"));
    }
  });

  it("an unknown command is a usage error (exit 2), not a stack trace", async () => {
    const r = await runCli(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command");
    expect(r.stderr).not.toContain("    at ");
  });

  it("lists each command with the summary its own module registers", async () => {
    // `wms --help` lists the commands without loading their modules; a module's own descriptions must not drift.
    const names = COMMAND_GROUPS.flatMap((g) => g.commands.map(([name]) => name));
    expect(new Set(names).size).toBe(names.length);
    for (const group of COMMAND_GROUPS) {
      const program = new Command("wms");
      (await group.load())(program);
      expect(program.commands.map((c) => [c.name(), c.description()])).toEqual(group.commands.map(([n, s]) => [n, s]));
    }
  });

  it("ends quietly when the reader of its output stops reading ('wms errors | head -1')", async () => {
    const child = spawn(process.execPath, [WMS_BIN, "errors"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    // The first line read, the pipe closed, as head does; the table has a few hundred lines more.
    child.stdout.once("data", () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });

  it("says why a file it was given cannot be read in words, with the system's code after them", async () => {
    const missing = await runCli(["--config", "no-such-dir/wms.yaml", "task", "list"], { env: { WMS_CONFIG: undefined } });
    expect(missing.stderr).toBe("wms: error E1007 FILE_UNREADABLE: A file named on the command line cannot be read: no-such-dir/wms.yaml: no such file (ENOENT)\n");
    expect(missing.code).toBe(1);
    const folder = await runCli(["--config", "examples", "task", "list"], { env: { WMS_CONFIG: undefined } });
    expect(folder.stderr).toBe("wms: error E1007 FILE_UNREADABLE: A file named on the command line cannot be read: examples: a folder, not a file (EISDIR)\n");
    // A device read as a file never ends (/dev/zero filled 5 GB of memory in 30 s): refused before
    // reading. Bounded, so a regression is killed rather than left to fill the machine's memory.
    for (const args of [["--config", "/dev/zero", "task", "list"], ["task", "submit", "/dev/zero", "--cert", "examples/README.md", "--key", "examples/README.md"]]) {
      const device = await runCli(args, { env: { WMS_CONFIG: undefined }, timeoutMs: 10_000 });
      expect(device.stderr, args.join(" ")).toBe("wms: error E1007 FILE_UNREADABLE: A file named on the command line cannot be read: /dev/zero: a device, not a file\n");
      expect(device.code).toBe(1);
    }
    const key = await runCli(["task", "submit", "examples/data-local-job.yaml", "--cert", "/dev/zero", "--key", "/dev/zero"], { timeoutMs: 10_000 });
    expect(key.stderr).toBe("wms: error E1007 FILE_UNREADABLE: A file named on the command line cannot be read: --cert /dev/zero: a device, not a file\n");
  });

  it("shows no empty list as a repeatable option's default in any command's help, and keeps the real defaults", async () => {
    const program = await buildProgram();
    const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
    const helps = all(program).map((c) => ({ name: c.name(), text: c.helpInformation() }));
    expect(helps.filter((h) => h.text.includes("(default: [])")).map((h) => h.name)).toEqual([]);
    // 'default role:pilot' in the text, and no '(default: [])' after it to contradict it.
    const proxyInit = await runCli(["proxy", "init", "--help"]);
    expect(proxyInit.stdout).toMatch(/--retriever <rule> +who may retrieve it: [^(]*\(repeatable; default role:pilot\)\n/);
    expect(proxyInit.stdout).toMatch(/--lifetime <hours> +lifetime of the new proxy in hours \(default: 24\)/);
  });

  it("lists in 'wms factory set --help' every knob the command takes", async () => {
    // The help is static text (it loads no schema); the knobs come from the KnobChanges schema.
    const r = await runCli(["factory", "set", "--help"]);
    const keys = /^Keys: (.*)$/m.exec(r.stdout)?.[1].split(" ");
    expect(keys).toEqual([...TUNABLE_KNOBS]);
  });

  it("loads the group a command line names, after global options or behind 'help'", async () => {
    const afterGlobal = await runCli(["--namespace", "nsx", "errors", "2400"]);
    expect(afterGlobal.code, afterGlobal.stderr).toBe(0);
    expect(afterGlobal.stdout).toContain("MYPROXY_DN_MISMATCH");
    const help = await runCli(["help", "errors"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("summary");
  });

  it("tells a service run by hand that its Ctrl-C stops it, and one run by wms up that the supervisor's Ctrl-C or wms down does", () => {
    expect(stopHint("Ctrl-C stops it", {})).toBe("Ctrl-C stops it");
    expect(stopHint("Ctrl-C stops it", { [UP_SUPERVISOR_ENV]: "attached" })).toBe("run by 'wms up': Ctrl-C in its terminal stops everything");
    expect(stopHint("Ctrl-C stops it", { [UP_SUPERVISOR_ENV]: "detached" })).toMatch(/^run by 'wms up --detach': '(npx )?wms down' stops everything$/);
  });
});
