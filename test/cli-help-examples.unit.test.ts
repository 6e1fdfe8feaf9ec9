import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { COMMAND_EXAMPLES } from "../cli/command-examples.ts";
import { buildProgram } from "../cli/program.ts";
import type { CliIo } from "../cli/error-reporting.ts";
import { runCli } from "./support/run-cli.ts";

/** Every command of the tree by its path ("task submit"), the help commands left out. */
function commandsByPath(program: Command): Map<string, Command> {
  const out = new Map<string, Command>();
  const walk = (cmd: Command, path: string[]): void => {
    for (const sub of cmd.commands) {
      if (sub.name() === "help") continue;
      const p = [...path, sub.name()];
      out.set(p.join(" "), sub);
      walk(sub, p);
    }
  };
  walk(program, []);
  return out;
}

function longOptions(cmd: Command | null): Set<string> {
  const names = new Set<string>(["--help"]);
  for (let c = cmd; c !== null; c = c.parent) for (const o of c.options) if (o.long !== undefined) names.add(o.long);
  return names;
}

describe("wms --help examples", () => {
  it("ends every command's help with examples of that command", async () => {
    let captured = "";
    const io: CliIo = { out: (s: string) => void (captured += s), err: () => undefined };
    const program = await buildProgram(io);
    const commands = commandsByPath(program);
    expect(commands.size).toBeGreaterThan(50);
    for (const [path, cmd] of commands) {
      captured = "";
      cmd.outputHelp();
      const examples = /\nExamples:\n((?: {2}.*\n?)+)/.exec(captured)?.[1];
      expect(examples, `wms ${path} --help has no examples`).toBeDefined();
      // A group's examples may show its subcommands; each names the command whose help it is.
      expect(examples, `wms ${path} --help: examples of other commands only`).toMatch(new RegExp(`\\bwms ${path}\\b`));
    }
    // Every group's module is imported (transpiled, under the unit run): a minute on a busy machine.
  }, 180_000);

  it("names no command that does not exist, and no option its command does not take", async () => {
    const program = await buildProgram({ out: () => undefined, err: () => undefined });
    const commands = commandsByPath(program);
    for (const [path, lines] of Object.entries(COMMAND_EXAMPLES)) {
      if (path !== "") expect(commands.has(path), `examples for 'wms ${path}', which is no command`).toBe(true);
      for (const line of lines) {
        // Each 'wms ...' between shell operators: the deepest command its words name, then its options.
        for (const segment of line.replace(/#.*$/, "").split(/&&|\||;/)) {
          const words = segment.trim().split(/\s+/).filter((w) => !/^[A-Z_]+=/.test(w));
          if (words[0] !== "wms") continue;
          let cmd: Command = program;
          for (const w of words.slice(1)) {
            const next = cmd.commands.find((c) => c.name() === w);
            if (next === undefined) break;
            cmd = next;
          }
          const known = longOptions(cmd);
          for (const w of words) {
            const opt = /^(--[a-z-]+)/.exec(w)?.[1];
            if (opt !== undefined) expect(known.has(opt), `'${line}': ${opt} is no option of 'wms ${cmd.name()}'`).toBe(true);
          }
        }
      }
    }
  }, 180_000);

  it("shows them to a user: 'wms task retry --help' and 'wms --help'", async () => {
    const retry = await runCli(["task", "retry", "--help"]);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toMatch(/\nExamples:\n {2}wms job list --task T1 --state failed && wms task retry T1\n/);
    const top = await runCli(["--help"]);
    expect(top.stdout).toMatch(/\nExamples:\n {2}wms init mygrid && cd mygrid && wms up --detach\n[\s\S]*\n\nExit codes:\n/);
  }, 120_000);
});
