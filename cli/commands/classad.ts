import type { Command } from "commander";
import { LRUCache } from "lru-cache";
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
    const { fileErrorText } = await import("../../platform/file-error-text.ts");
    throw new WmsError(ERR.FILE_UNREADABLE, `cannot read ${what} from '${arg.slice(1)}': ${fileErrorText(e)}`);
  }
}

function parseError(ca: ClassAdModule, e: unknown, what: string): never {
  if (e instanceof ca.ClassAdParseError) throw new WmsError(ERR.CLASSAD_PARSE, `${what} does not parse at line ${e.line}, column ${e.column}: ${e.message}`);
  throw e;
}

type Ad = InstanceType<ClassAdModule["ClassAd"]>;

async function loadAd(ca: ClassAdModule, arg: string | undefined, what: string, strict = false): Promise<Ad | undefined> {
  if (arg === undefined) return undefined;
  const text = await adText(arg, what);
  try {
    return ca.parseClassAd(text, { strict });
  } catch (e) {
    return parseError(ca, e, what);
  }
}

/** A match as `classad match --json` and `--batch` print it. */
function matchJson(ca: ClassAdModule, r: ReturnType<ClassAdModule["matchAds"]>): Record<string, unknown> {
  return {
    match: r.match,
    jobRequirements: ca.valueToString(r.jobRequirements),
    machineRequirements: ca.valueToString(r.machineRequirements),
    jobRank: r.jobRank,
    machineRank: r.machineRank,
  };
}

/** Identical ad texts in a batch are parsed once (pools repeat the same job and slot ads). */
class AdTexts {
  // The least recently used out: a batch's repeated ads stay parsed past the limit.
  private readonly parsed = new LRUCache<string, Ad>({ max: 4096 });
  constructor(private readonly ca: ClassAdModule) {}
  /** Ads matched before are worth compiling; an ad seen once is cheaper to walk. */
  private readonly matched = new WeakSet<Ad>();
  seenBefore(job: Ad, machine: Ad): boolean {
    const both = this.matched.has(job) && this.matched.has(machine);
    this.matched.add(job);
    this.matched.add(machine);
    return both;
  }

  get(text: string): Ad {
    let ad = this.parsed.get(text);
    if (!ad) {
      ad = this.ca.parseClassAd(text);
      this.parsed.set(text, ad);
    }
    return ad;
  }
}

function parseField(ca: ClassAdModule, ads: AdTexts, text: string, what: string): { ad: Ad } | { error: { code: number; name: string; message: string } } {
  try {
    return { ad: ads.get(text) };
  } catch (e) {
    if (!(e instanceof ca.ClassAdParseError)) throw e;
    return { error: { code: ERR.CLASSAD_PARSE, name: "CLASSAD_PARSE", message: `${what} does not parse at line ${e.line}, column ${e.column}: ${e.message}` } };
  }
}

/**
 * `classad match --batch`: one `JOB_AD<TAB>MACHINE_AD` pair per stdin line, one JSON object per
 * line out; a line that cannot be read gives {line, error: {code, name, message}} and the run goes on.
 */
async function matchBatch(ca: ClassAdModule): Promise<number> {
  const { createInterface } = await import("node:readline");
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  const ads = new AdTexts(ca);
  let out = "";
  let n = 0;
  let bad = 0;
  for await (const line of rl) {
    n++;
    if (line.trim() === "") continue;
    const tab = line.indexOf("\t");
    let obj: Record<string, unknown>;
    if (tab < 0) {
      obj = { line: n, error: { code: ERR.BAD_INPUT, name: "BAD_INPUT", message: "expected JOB_AD<TAB>MACHINE_AD" } };
      bad++;
    } else {
      const job = parseField(ca, ads, line.slice(0, tab), "the job ad");
      const machine = parseField(ca, ads, line.slice(tab + 1), "the machine ad");
      if ("error" in job || "error" in machine) {
        obj = { line: n, ...("error" in job ? job : machine) };
        bad++;
      } else obj = matchJson(ca, ca.matchAds(job.ad, machine.ad, null, ads.seenBefore(job.ad, machine.ad) ? "compiled" : "tree-walker"));
    }
    out += JSON.stringify(obj) + "\n";
    if (out.length > 1 << 16) {
      if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once("drain", r));
      out = "";
    }
  }
  process.stdout.write(out);
  return bad;
}

/** Machine ads from a file: one `[ ... ]` ad per line, or condor_status -long blocks separated by blank lines. */
function machineAds(ca: ClassAdModule, text: string, file: string): Ad[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const chunks = lines.every((l) => l.trimStart().startsWith("[")) ? lines : text.split(/\r?\n\s*\r?\n/).filter((c) => c.trim() !== "");
  return chunks.map((chunk, i) => {
    try {
      return ca.parseClassAd(chunk);
    } catch (e) {
      return parseError(ca, e, `machine ad ${i + 1} of ${file}`);
    }
  });
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
    .option(
      "--strict",
      "HTCondor's new-ClassAd (strict) semantics instead of the old ones its tools use: integer literals may start with 0 " +
        "(read in base 10 as the library does: 017 is 17, 0x1F is 0), `my` and `CurrentTime` are plain names, and a bare name MY lacks is not looked up in TARGET",
    )
    .action(
      action(async (expr: string | undefined, opts: { my?: string; target?: string; strict?: boolean }) => {
        const ca = await import("../../matchmaker/classad/index.ts");
        const strict = opts.strict === true;
        // Like classad_eval, MY is an empty ad when none is given.
        const my = (await loadAd(ca, opts.my, "the --my ad", strict)) ?? new ca.ClassAd();
        const target = await loadAd(ca, opts.target, "the --target ad", strict);
        const evalText = (text: string): string => ca.valueToString(ca.evaluate(ca.parseExpr(text, { strict }), my, target, { strict }));
        if (expr !== undefined) {
          let out: string;
          try {
            out = evalText(expr);
          } catch (e) {
            parseError(ca, e, "the expression");
          }
          process.stdout.write(out + "\n");
          return;
        }
        const { createInterface } = await import("node:readline");
        const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
        let out = "";
        for await (const line of rl) {
          if (line.trim() === "") out += "\n";
          else {
            try {
              out += evalText(line) + "\n";
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
    .description(
      "match a job ad and a machine ad as HTCondor's negotiator does: IsAMatch (both Requirements true or a non-zero number; MY is the ad's own, TARGET the other) " +
        "and each side's Rank as EvalFloat(Rank, my, target) (the other ad's Rank when one has none); print both Requirements and Ranks. " +
        "With --batch, read lines JOB_AD<TAB>MACHINE_AD from standard input and print one JSON object per line",
    )
    .argument("[job-ad]", "the job ClassAd: text like '[ Requirements = TARGET.Memory >= 2048 ]' or @file")
    .argument("[machine-ad]", "the machine ClassAd: text like '[ Memory = 4096; Requirements = true ]' or @file")
    .option("--json", "print one JSON object: {match, jobRequirements, machineRequirements, jobRank, machineRank}")
    .option("--batch", "pairs from standard input, one 'JOB_AD<TAB>MACHINE_AD' per line (each ad in the [ ... ] form); a line that does not parse prints {line, error} and the run goes on (exit 1 at the end)")
    .action(
      action(async (jobArg: string | undefined, machineArg: string | undefined, opts: { json?: boolean; batch?: boolean }) => {
        const ca = await import("../../matchmaker/classad/index.ts");
        if (opts.batch) {
          if (jobArg !== undefined || machineArg !== undefined) throw new WmsError(ERR.USAGE, "--batch reads the ads from standard input; give no JOB_AD or MACHINE_AD");
          const bad = await matchBatch(ca);
          process.exitCode = bad > 0 ? EXIT.failed : EXIT.ok;
          return;
        }
        if (jobArg === undefined || machineArg === undefined) throw new WmsError(ERR.USAGE, "give JOB_AD and MACHINE_AD, or --batch");
        const job = (await loadAd(ca, jobArg, "the job ad"))!;
        const machine = (await loadAd(ca, machineArg, "the machine ad"))!;
        const out = matchJson(ca, ca.matchAds(job, machine));
        if (opts.json) printJson(out);
        else {
          process.stdout.write(
            `${out.match ? "match" : "no match"}\n  job requirements:     ${String(out.jobRequirements)}\n  machine requirements: ${String(out.machineRequirements)}\n  job rank:     ${String(out.jobRank)}\n  machine rank: ${String(out.machineRank)}\n`,
          );
        }
        process.exitCode = EXIT.ok;
      }),
    );

  classad
    .command("analyze")
    .description(
      "why a job matches few or no machines, in the spirit of condor_q -better-analyze: how many of the machines each top-level clause " +
        "of the job's Requirements accepts, and which machines' own Requirements refuse the job",
    )
    .argument("<job-ad>", "the job ClassAd: text or @file")
    .requiredOption("--machines <file>", "machine ads: one '[ ... ]' ad per line, or condor_status -long blocks separated by blank lines")
    .option("--json", "print one JSON object: {machines, matching, jobRequirements, clauses: [{clause, machinesAccepting}], acceptedByJob, acceptingJob, machinesRejectingJob}")
    .action(
      action(async (jobArg: string, opts: { machines: string; json?: boolean }) => {
        const ca = await import("../../matchmaker/classad/index.ts");
        const job = (await loadAd(ca, jobArg, "the job ad"))!;
        const machines = machineAds(ca, await adText(`@${opts.machines}`, "the machine ads"), opts.machines);
        const a = ca.analyzeMatch(job, machines);
        if (opts.json) {
          printJson(a);
          return;
        }
        const w = String(a.machines).length;
        const lines = [
          `The Requirements expression for the job is:`,
          `    ${a.jobRequirements === "" ? "(none: no machine matches a job without Requirements)" : a.jobRequirements}`,
          ``,
          `Clauses of the job's Requirements and the machines each accepts (of ${a.machines}):`,
          ...a.clauses.map((c, i) => `  [${i}] ${String(c.machinesAccepting).padStart(w)}  ${c.clause}`),
          ``,
          `${a.machines} machines: ${a.acceptedByJob} accepted by the job's Requirements, ${a.acceptingJob} accept the job by their own Requirements, ${a.matching} match both ways.`,
        ];
        if (a.machinesRejectingJob.length > 0) {
          const shown = a.machinesRejectingJob.slice(0, 20);
          lines.push(`Machines whose Requirements refuse the job (${a.machinesRejectingJob.length}${shown.length < a.machinesRejectingJob.length ? `, first ${shown.length}` : ""}):`, ...shown.map((n) => `  ${n}`));
        }
        process.stdout.write(lines.join("\n") + "\n");
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
