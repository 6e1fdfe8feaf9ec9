import type { Command } from "commander";
import { action, EXIT, printJson } from "../command-kit.ts";
import { ERR, WmsError } from "../../schemas/index.ts";

type ClassAdModule = typeof import("../../matchmaker/classad/index.ts");

/** `AD` arguments: ClassAd text, or `@path` to read it from a file. */
async function adText(arg: string, what: string): Promise<string> {
  if (!arg.startsWith("@")) return arg;
  const { readFile } = await import("node:fs/promises");
  try {
    return await readFile(arg.slice(1), "utf8");
  } catch (e) {
    throw new WmsError(ERR.BAD_INPUT, `cannot read ${what} from '${arg.slice(1)}': ${(e as Error).message.split("\n")[0]}`);
  }
}

function parseError(ca: ClassAdModule, e: unknown, what: string): never {
  if (e instanceof ca.ClassAdParseError) throw new WmsError(ERR.CLASSAD_PARSE, `${what} does not parse at line ${e.line}, column ${e.column}: ${e.message}`);
  throw e;
}

async function loadAd(ca: ClassAdModule, arg: string | undefined, what: string): Promise<InstanceType<ClassAdModule["ClassAd"]> | undefined> {
  if (arg === undefined) return undefined;
  const text = await adText(arg, what);
  try {
    return ca.parseClassAd(text);
  } catch (e) {
    return parseError(ca, e, what);
  }
}

export function registerClassad(program: Command): void {
  const classad = program.command("classad").description("evaluate ClassAd expressions and match ads (HTCondor's ClassAd language)");

  classad
    .command("eval")
    .description(
      "evaluate EXPR and print its value in ClassAd syntax (reals as HTCondor prints them, e.g. 3.500000000000000E+00). " +
        "Without EXPR, read one expression per line from standard input and print one line per input line: " +
        "the value, an empty line for an empty input line, or 'error: parse error at line L, column C: why' for a line that does not parse. " +
        "Put -- before an EXPR that starts with '-'",
    )
    .argument("[expr]", "the expression, e.g. 'TARGET.Memory >= 2048 && Cpus > 1'")
    .option("--my <ad>", "the MY ad (bare names resolve here first): ClassAd text like '[ Memory = 4096; Cpus = 8 ]' or @file")
    .option("--target <ad>", "the TARGET ad (bare names not in MY resolve here): ClassAd text or @file")
    .action(
      action(async (expr: string | undefined, opts: { my?: string; target?: string }) => {
        const ca = await import("../../matchmaker/classad/index.ts");
        // Like classad_eval, MY is an empty ad when none is given.
        const my = (await loadAd(ca, opts.my, "the --my ad")) ?? new ca.ClassAd();
        const target = await loadAd(ca, opts.target, "the --target ad");
        if (expr !== undefined) {
          let parsed;
          try {
            parsed = ca.parseExpr(expr);
          } catch (e) {
            parseError(ca, e, "the expression");
          }
          process.stdout.write(ca.valueToString(ca.evaluate(parsed, my, target)) + "\n");
          return;
        }
        const { createInterface } = await import("node:readline");
        const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
        let out = "";
        for await (const line of rl) {
          if (line.trim() === "") out += "\n";
          else {
            try {
              out += ca.valueToString(ca.evaluate(ca.parseExpr(line), my, target)) + "\n";
            } catch (e) {
              if (!(e instanceof ca.ClassAdParseError)) throw e;
              out += `error: parse error at line ${e.line}, column ${e.column}: ${e.message}\n`;
            }
          }
          if (out.length > 1 << 16) {
            process.stdout.write(out);
            out = "";
          }
        }
        process.stdout.write(out);
      }),
    );

  classad
    .command("match")
    .description("match a job ad and a machine ad symmetrically: both Requirements must be true (MY is the ad's own, TARGET the other); print both Requirements and Ranks")
    .argument("<job-ad>", "the job ClassAd: text like '[ Requirements = TARGET.Memory >= 2048 ]' or @file")
    .argument("<machine-ad>", "the machine ClassAd: text like '[ Memory = 4096; Requirements = true ]' or @file")
    .option("--json", "print one JSON object: {match, jobRequirements, machineRequirements, jobRank, machineRank}")
    .action(
      action(async (jobArg: string, machineArg: string, opts: { json?: boolean }) => {
        const ca = await import("../../matchmaker/classad/index.ts");
        const job = (await loadAd(ca, jobArg, "the job ad"))!;
        const machine = (await loadAd(ca, machineArg, "the machine ad"))!;
        const r = ca.matchAds(job, machine);
        const out = {
          match: r.match,
          jobRequirements: ca.valueToString(r.jobRequirements),
          machineRequirements: ca.valueToString(r.machineRequirements),
          jobRank: r.jobRank,
          machineRank: r.machineRank,
        };
        if (opts.json) printJson(out);
        else {
          process.stdout.write(
            `${out.match ? "match" : "no match"}\n  job requirements:     ${out.jobRequirements}\n  machine requirements: ${out.machineRequirements}\n  job rank:     ${out.jobRank}\n  machine rank: ${out.machineRank}\n`,
          );
        }
        process.exitCode = EXIT.ok;
      }),
    );

  classad
    .command("parse")
    .description("parse EXPR and print it in canonical ClassAd syntax (what HTCondor's unparser prints)")
    .argument("<expr>", "the expression")
    .option("--json", "print {canonical, warnings}")
    .action(
      action(async (expr: string, opts: { json?: boolean }) => {
        const ca = await import("../../matchmaker/classad/index.ts");
        let r;
        try {
          r = ca.parseExprWithWarnings(expr);
        } catch (e) {
          parseError(ca, e, "the expression");
        }
        const canonical = ca.unparse(r.expr);
        if (opts.json) printJson({ canonical, warnings: r.warnings });
        else {
          process.stdout.write(canonical + "\n");
          for (const w of r.warnings) process.stderr.write(`wms: warning: line ${w.line}, column ${w.column}: ${w.message}\n`);
        }
      }),
    );
}
