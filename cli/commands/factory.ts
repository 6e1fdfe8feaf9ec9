import type { Command } from "commander";
import { action, configFor, withAwayNote, deprecatedAlias, globalOptions, printJson, stopHint, warn } from "../command-kit.ts";
import type { LoadedConfig } from "../../platform/config.ts";
import type { FactoryConfig, FactoryQueue, FactoryQueueStatus } from "../../schemas/index.ts";

interface RunOptions {
  factoryFile?: string;
  workDir: string;
  once?: boolean;
  json?: boolean;
}

interface SetOptions {
  factory?: string;
  factoryFile?: string;
  cert?: string;
  key?: string;
  json?: boolean;
}

interface StatusOptions {
  factory?: string;
  json?: boolean;
}

export function registerFactory(program: Command): void {
  const factory = program
    .command("factory")
    .description("run, tune and inspect the pilot factory (keeps site queues supplied with identical pilots)");

  factory
    .command("run")
    .description("run the factory loop: each cycle, submit pilots where work waits, within the queue's knobs (Ctrl-C stops the factory; pilots keep running)")
    .option("-f, --factory-file <file>", "FactoryConfig YAML/JSON (default: factoryFile in wms.yaml)")
    .option("--work-dir <dir>", "folder for pilot logs and submit files", ".wms/factory")
    .option("--once", "run one cycle of every queue and exit")
    .option("--json", "with --once: print each queue's cycle report as JSON")
    .action(
      action(async (opts: RunOptions, cmd: Command) => {
        await runFactory(opts, cmd);
      }),
    );

  const set = factory
    .command("set")
    .argument("<queue>", "queue name, as in the factory config")
    .argument("<assignments...>", "key=value pairs, e.g. pilotsPerMinute=30 maxPending=5")
    .description(
      "change a queue's knobs live (key=value ...), signed with your operator certificate: the running factory verifies it, applies it within one cycle and keeps it in Redis for its next start",
    )
    .option("--factory <id>", "factory id (default: the only factory that has run in this namespace, or the one in --factory-file)")
    .option("--cert <pem>", "your operator certificate, one with the operator role (default: users/operator.cert.pem in the PKI folder, as wms init writes it)")
    .option("--key <pem>", "the private key of --cert (default: users/operator.key.pem in the PKI folder)")
    .option("-f, --factory-file <file>", "also write the factory's whole live state (every queue's changed knobs) into this FactoryConfig file, editing only those values: comments and layout stay")
    .option("--json", "print the queue's new knobs as JSON")
    .addHelpText("after", "\nKeys: targetIdle maxPending maxRunning maxPerCycle pilotsPerMinute cycleSec pilotLifetimeSec tokenUses emptyAdvertsLimit censusSec queuedPerJob breakerAfter breakerMaxSec")
    .action(
      action(async (queue: string, assignments: string[], opts: SetOptions, cmd: Command) => {
        await setKnobs(queue, assignments, opts, cmd);
      }),
    );
  deprecatedAlias(set, "--config-file <file>", "--factory-file");

  factory
    .command("status")
    .description("per queue: pilots submitted, pending, idle, running, exited, empty (found no job), missed (gone without a word); activated jobs; rate in the last minute vs target; circuit breaker")
    .option("--factory <id>", "only this factory")
    .option("--json", "print the status records as JSON")
    .action(
      action(async (opts: StatusOptions, cmd: Command) => {
        await showStatus(opts, cmd);
      }),
    );
}

/** The factory file: `--factory-file`, or wms.yaml's factoryFile; `--config F` naming a factory file still works, with a warning. */
async function resolveFiles(opts: RunOptions, cmd: Command): Promise<{ loaded: LoadedConfig; factoryFile: string }> {
  const { loadConfig, readDataFile } = await import("../../platform/config.ts");
  const { ERR, WmsError } = await import("../../schemas/index.ts");
  const g = globalOptions(cmd);
  const namespace = g.namespace ? { namespace: g.namespace } : undefined;
  if (!opts.factoryFile && g.config) {
    const data = readDataFile(g.config, ERR.BAD_CONFIG);
    if (data !== null && typeof data === "object" && "queues" in data) {
      warn(`--config ${g.config} names a factory file; use --factory-file (--config is wms.yaml)`);
      return { loaded: loadConfig({ overrides: namespace }), factoryFile: g.config };
    }
  }
  const loaded = configFor(cmd);
  const factoryFile = opts.factoryFile ?? loaded.config.factoryFile;
  if (!factoryFile) throw new WmsError(ERR.USAGE, "no factory config: give --factory-file F (or --config F), or set factoryFile in wms.yaml");
  return { loaded, factoryFile };
}

async function loadFactoryFile(file: string): Promise<FactoryConfig> {
  const { readDataFile } = await import("../../platform/config.ts");
  const { ERR, FactoryConfig, SCHEMA_VERSION, WmsError } = await import("../../schemas/index.ts");
  const data = readDataFile(file, ERR.BAD_CONFIG);
  if (data === null || typeof data !== "object" || Array.isArray(data)) throw new WmsError(ERR.BAD_CONFIG, `${file}: the top level must be a mapping with factoryId and queues`);
  // schemaVersion may be left out of a hand-written file; anything else must be right.
  const problems = FactoryConfig.problems({ schemaVersion: SCHEMA_VERSION, ...data });
  if (problems !== undefined) throw new WmsError(ERR.BAD_CONFIG, `${file}: ${problems}`);
  return FactoryConfig.parse({ schemaVersion: SCHEMA_VERSION, ...data });
}

async function runFactory(opts: RunOptions, cmd: Command): Promise<void> {
  // The files first: a missing or broken one fails before the heavy modules load.
  const { loaded, factoryFile } = await resolveFiles(opts, cmd);
  const factoryConfig = await loadFactoryFile(factoryFile);
  // Pilot logs and submit files go here: a path through a file or on a file system that holds no
  // folders is one coded line now, not a failed submission each cycle.
  const { makeFolder } = await import("../../platform/make-folder.ts");
  makeFolder(opts.workDir);
  const path = await import("node:path");
  const { fileURLToPath } = await import("node:url");
  const { connectNats, connectRedis } = await import("../nats-connection.ts");
  const { createLogger } = await import("../../platform/logger.ts");
  const { SiteRegistry } = await import("../../matchmaker/index.ts");
  const { DispatchQueues } = await import("../../jobs/index.ts");
  const { FactoryControlVerifier, loadTrust, PilotTokenStore } = await import("../../security/index.ts");
  const { activatedJobsReader, checkFactoryConfig, startFactory } = await import("../../pilot-factory/index.ts");
  const { config, names } = loaded;
  const logger = createLogger("factory", config.logLevel);
  const redis = await connectRedis(config, { onError: (e) => logger.warn({ err: e.message }, "redis") });
  // The sites the deployment has: the site config file, else the sites published in Redis. A queue
  // for any other site is refused here, before a pilot is submitted.
  let knownSites: string[] | undefined;
  try {
    const sites = await new SiteRegistry(redis, names).listOrPublish(config.sitesFile);
    knownSites = sites.length > 0 ? sites.map((s) => s.name) : undefined;
    checkFactoryConfig(factoryConfig, knownSites, factoryFile);
  } catch (e) {
    redis.disconnect();
    throw e;
  }
  if (knownSites === undefined) logger.warn("no site configuration (sitesFile) and no published sites: queue sites are not checked");
  // Only an operator's signed request retunes it (wms factory set). Without the deployment's CA
  // the factory still runs, and refuses every change (E1723): it cannot tell who asks.
  let control: InstanceType<typeof FactoryControlVerifier> | undefined;
  try {
    control = new FactoryControlVerifier(redis, names, loadTrust(config.pki.dir));
  } catch (e) {
    logger.warn({ pkiDir: config.pki.dir, err: (e as Error).message }, "no CA to verify operators: wms factory set is refused");
  }
  const nc = await connectNats(config, `factory-${factoryConfig.factoryId}`, logger);
  const dispatch = new DispatchQueues({ redis, names, lockMs: config.jobs.leaseSec * 1000, stalledIntervalMs: config.jobs.leaseCheckSec * 1000 });
  const running = await startFactory({
    config: factoryConfig,
    nc,
    redis,
    names,
    tokens: new PilotTokenStore(redis, names),
    waitingJobs: activatedJobsReader(dispatch),
    knownSites,
    control,
    runtime: {
      nodePath: process.execPath,
      wmsBin: fileURLToPath(new URL("../../bin/wms.mjs", import.meta.url)),
      namespace: names.namespace,
      configPath: loaded.path ? path.resolve(loaded.path) : undefined,
      serviceUrls: { nats: config.nats.url, ...(config.redis.cluster ? {} : { redis: config.redis.url }), rabbitmq: config.rabbitmq.url },
      identityFile: config.pilot.identityFile,
    },
    workDir: path.resolve(opts.workDir),
    env: process.env,
    logger,
    autoCycle: !opts.once,
  });
  const close = async (): Promise<void> => {
    await running.stop();
    await nc.drain();
    redis.disconnect();
  };
  if (opts.once) {
    const reports = await running.cycleOnce();
    await close();
    if (opts.json) printJson(reports.map((r) => ({ ...r, error: r.error ? { code: r.error.code, message: r.error.message } : undefined })));
    else for (const r of reports) process.stdout.write(`${r.queue}: submitted ${r.submitted.length} (${r.decision.reason}; waiting ${r.observation.waitingJobs}, pending ${r.observation.pending}, idle ${r.observation.idle}, running ${r.observation.running})${r.error ? `  E${r.error.code} ${r.error.message}` : ""}\n`);
    return;
  }
  process.stderr.write(`factory ${factoryConfig.factoryId}: ${factoryConfig.queues.length} queue(s) in namespace ${names.namespace}; ${stopHint("Ctrl-C stops the factory (pilots keep running)")}\n`);
  await new Promise<void>((resolve) => {
    const onSignal = (): void => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  await close();
  process.stderr.write(`factory ${factoryConfig.factoryId} stopped\n`);
}

async function setKnobs(queueName: string, assignments: string[], opts: SetOptions, cmd: Command): Promise<void> {
  const { readFileSync, writeFileSync } = await import("node:fs");
  const path = await import("node:path");
  // Through platform/config (a static import of yaml there): the bundled CLI's dynamic import of yaml has no named `parse`.
  const { parseDataText } = await import("../../platform/config.ts");
  const { ERR, FactoryConfig, SCHEMA_VERSION, WmsError } = await import("../../schemas/index.ts");
  const { connectNats, connectRedis } = await import("../nats-connection.ts");
  const { readCredentialOptions } = await import("../credential-options.ts");
  const { errorFromReply } = await import("../../matchmaker/index.ts");
  const { FactoryControlVerifier, loadTrust, signFactoryControl } = await import("../../security/index.ts");
  const f = await import("../../pilot-factory/index.ts");
  const changes = f.parseKnobAssignments(assignments);
  const { config, names } = configFor(cmd);
  const factoryFile = opts.factoryFile;
  const fileConfig = factoryFile ? await loadFactoryFile(factoryFile) : undefined;
  const redis = await connectRedis(config);
  try {
    let factoryId = opts.factory ?? fileConfig?.factoryId;
    if (factoryId === undefined) {
      const known = await f.knownFactories(redis, names);
      if (known.length === 0) throw new WmsError(ERR.NOT_FOUND, withAwayNote(`no factory has run in namespace ${names.namespace}`, "give --factory ID or --factory-file F"));
      if (known.length > 1) throw new WmsError(ERR.USAGE, `several factories in namespace ${names.namespace} (${known.join(", ")}); pick one with --factory ID`);
      factoryId = known[0];
    }
    const id = factoryId;
    const statuses = (await f.readFactoryStatus(redis, names, id)).queues;
    let verifier: InstanceType<typeof FactoryControlVerifier> | undefined;
    // The persisted changes are believed only as the factory believes them: verified.
    const gate = (): InstanceType<typeof FactoryControlVerifier> => (verifier ??= new FactoryControlVerifier(redis, names, loadTrust(config.pki.dir)));
    /** A queue's knobs as the running factory has them: its last status, else the file with the persisted changes over it. */
    const liveKnobs = async (name: string): Promise<FactoryQueue | undefined> => {
      const fromStatus = statuses.find((q) => q.queue === name)?.knobs;
      if (fromStatus) return fromStatus;
      const fromFile = fileConfig?.queues.find((q) => q.name === name);
      if (!fromFile) return undefined;
      const persisted = await f.loadKnobChanges(redis, names, id, name, (signed) => gate().persisted(signed));
      for (const r of persisted.refused) warn(`E${r.code}: the kept change of ${name}.${r.knob} does not verify (${r.message}); the file's value applies`);
      return persisted.changes ? f.applyKnobChanges(fromFile, persisted.changes) : fromFile;
    };
    const current = await liveKnobs(queueName);
    if (!current) throw new WmsError(ERR.NOT_FOUND, `factory ${id} has no queue '${queueName}' (not in its status${factoryFile ? ` nor in ${factoryFile}` : "; give --factory-file F to name its file"})`);
    let updated = f.applyKnobChanges(current, changes);
    // The file's edit is checked before anything is sent, and written only once the change is made.
    let fileText: string | undefined;
    if (factoryFile && fileConfig) {
      // The whole live state, not only this command's knobs: every queue's tunable knobs that
      // differ from what the file says (defaults included), so the file restarts the factory as it runs now.
      const values: Record<string, Record<string, number>> = {};
      for (const q of fileConfig.queues) {
        const live = q.name === queueName ? updated : await liveKnobs(q.name);
        if (!live) continue;
        const diff: Record<string, number> = {};
        for (const k of f.TUNABLE_KNOBS) {
          const v = live[k];
          if (v !== undefined && v !== q[k]) diff[k] = v;
        }
        if (Object.keys(diff).length > 0) values[q.name] = diff;
      }
      fileText = f.editFactoryFile(readFileSync(factoryFile, "utf8"), factoryFile, values);
      const data = parseDataText(fileText, factoryFile);
      const problems = FactoryConfig.problems({ schemaVersion: SCHEMA_VERSION, ...(data as object) });
      if (problems !== undefined) throw new WmsError(ERR.BAD_INPUT, `${factoryFile} would not validate: ${problems}`);
    }
    // The operator certificate `wms init` writes, unless named.
    const signer = await readCredentialOptions(opts.cert ?? path.join(config.pki.dir, "users", "operator.cert.pem"), opts.key ?? path.join(config.pki.dir, "users", "operator.key.pem"));
    const signed = signFactoryControl({ factoryId: id, queue: queueName, knobs: changes }, signer);
    const nc = await connectNats(config, "factory-set");
    let live: boolean;
    try {
      const reply = await f.requestKnobChanges(nc, names, signed);
      if (reply?.status === "error") throw errorFromReply(reply);
      live = reply !== undefined;
      if (reply) updated = reply.knobs;
    } finally {
      await nc.close();
    }
    if (!live) {
      // No factory answered: kept for its next start, after the checks the factory makes (so what
      // is kept verifies, and the request is spent here: it cannot be sent to the factory later).
      const { control } = await gate().admit(signed);
      await f.saveSignedControl(redis, names, control, signed);
    }
    if (factoryFile && fileText !== undefined) writeFileSync(factoryFile, fileText);
    const how = live ? "applied by the running factory within one cycle, and kept" : "no running factory answered; kept in Redis, applied at its next start";
    if (opts.json) printJson({ factoryId: id, queue: queueName, changes, knobs: updated, live });
    else process.stdout.write(`factory ${id} queue ${queueName}: ${Object.entries(changes).map(([k, v]) => `${k}=${v}`).join(" ")} (${how})\n`);
  } finally {
    redis.disconnect();
  }
}

async function showStatus(opts: StatusOptions, cmd: Command): Promise<void> {
  const { connectRedis } = await import("../nats-connection.ts");
  const { readFactoryStatus } = await import("../../pilot-factory/index.ts");
  const { ERR, WmsError } = await import("../../schemas/index.ts");
  const { config, names } = configFor(cmd);
  const redis = await connectRedis(config);
  try {
    const { queues, invalid } = await readFactoryStatus(redis, names, opts.factory);
    // A factory asked for by name that left no status is a mistake to report (a typo, another
    // namespace), not an empty listing.
    if (opts.factory !== undefined && queues.length === 0 && invalid.length === 0) {
      throw new WmsError(ERR.NOT_FOUND, withAwayNote(`no status of factory ${opts.factory} in namespace ${names.namespace}`, "'wms factory status' lists every factory's queues"));
    }
    if (opts.json) {
      printJson({ queues, invalid });
      return;
    }
    if (queues.length === 0) {
      process.stdout.write(`${withAwayNote(`no factory status in namespace ${names.namespace}`, "is 'wms factory run' (or 'wms up') running?")}\n`);
      return;
    }
    // Harvester's worker states: submitted (PENDING here), idle, running, finished (EXITED), missed.
    const header = ["FACTORY", "QUEUE", "SITE", "ADAPTER", "SUBMITTED", "PENDING", "IDLE", "RUNNING", "EXITED", "EMPTY", "MISSED", "ACTIVATED", "RATE/MIN", "TARGET", "BREAKER", "AGE", "LAST ERROR"];
    const now = Date.now();
    const rows = queues.map((q) => [
      q.factoryId,
      q.queue,
      q.site,
      q.adapter,
      String(q.submitted),
      String(q.pending),
      String(q.idle),
      String(q.running),
      String(q.exited),
      String(q.emptyPilots),
      String(q.lost),
      String(q.waitingJobs),
      String(q.ratePerMin),
      String(q.targetPerMin),
      breakerCell(q.breaker, now),
      `${Math.max(0, Math.round((now - q.at) / 1000))}s`,
      q.lastError ? `E${q.lastError.code}` : "-",
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const r of [header, ...rows]) process.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd() + "\n");
    if (invalid.length) process.stdout.write(`(unreadable status entries: ${invalid.join(", ")})\n`);
  } finally {
    redis.disconnect();
  }
}

/** `closed`, `open 3 fail, retry 40s`, `half-open (trial out)`. */
function breakerCell(b: FactoryQueueStatus["breaker"], now: number): string {
  if (!b || b.state === "closed") return b && b.failures > 0 ? `closed ${b.failures} fail` : "closed";
  if (b.state === "half-open") return "half-open (trial out)";
  return `open ${b.failures} fail, retry ${b.retryAt !== undefined ? `${Math.max(0, Math.round((b.retryAt - now) / 1000))}s` : "now"}`;
}
