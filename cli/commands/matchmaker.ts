import type { Command } from "commander";
import { action, configFor, parseIntOption, parseListenHost, parsePortOption, serveUntilStopped } from "../command-kit.ts";

interface MatchmakerOptions {
  instances: number;
  metricsPort?: number;
  metricsHost: string;
}

/** Global options a child instance must see too (config file, namespace). */
function childArgs(cmd: Command): string[] {
  const g = cmd.optsWithGlobals<{ config?: string; namespace?: string }>();
  const out: string[] = [];
  if (g.config) out.push("--config", g.config);
  if (g.namespace) out.push("--namespace", g.namespace);
  return out;
}

async function runInstances(cmd: Command, n: number, opts: MatchmakerOptions): Promise<void> {
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const bin = fileURLToPath(new URL("../../bin/wms.mjs", import.meta.url));
  // Each instance its own metrics port: the given one, the next, and so on (0 stays "any free port").
  const metricsArgs = (i: number): string[] =>
    opts.metricsPort === undefined ? [] : ["--metrics-port", String(opts.metricsPort === 0 ? 0 : opts.metricsPort + i), "--metrics-host", opts.metricsHost];
  const children = Array.from({ length: n }, (_, i) => spawn(process.execPath, [bin, ...childArgs(cmd), "matchmaker", "--instances", "1", ...metricsArgs(i)], { stdio: "inherit" }));
  const stop = (): void => {
    for (const c of children) c.kill("SIGTERM");
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const codes = await Promise.all(children.map((c) => new Promise<number>((r) => c.on("exit", (code) => r(code ?? 1)))));
  process.exitCode = codes.some((c) => c !== 0) ? 1 : 0;
}

async function runOne(cmd: Command, opts: MatchmakerOptions): Promise<void> {
  const { readFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const { ERR, WmsError } = await import("../../schemas/index.ts");
  const { connectNats, connectRedis } = await import("../nats-connection.ts");
  const { createLogger } = await import("../../platform/logger.ts");
  const { createBatchEnvelopeSigner } = await import("../../security/index.ts");
  const { startMatchmaker } = await import("../../matchmaker/matchmaker-service.ts");
  const { config, names } = configFor(cmd);
  const dir = config.pki.dir;
  const read = async (rel: string): Promise<string> => {
    try {
      return await readFile(join(dir, rel), "utf8");
    } catch {
      throw new WmsError(ERR.FILE_UNREADABLE, `${join(dir, rel)} is missing; run 'wms pki init --dir ${dir}' or set pki.dir in wms.yaml`);
    }
  };
  const signer = createBatchEnvelopeSigner({ certPem: await read("services/matchmaker.cert.pem"), keyPem: await read("services/matchmaker.key.pem") });
  const logger = createLogger("matchmaker", config.logLevel);
  const nc = await connectNats(config, "wms-matchmaker", logger);
  const redis = await connectRedis(config, { corked: true, onError: (e) => logger.warn({ err: e.message }, "redis") });
  // Site authorization chains come from the site config when one is set; without it no site refuses.
  const sites = config.sitesFile ? (await import("../../site-authz/index.ts")).loadSiteConfig(config.sitesFile).sites : undefined;
  // The metrics endpoint first: a port in use stops the start before the matchmaker answers anything.
  const { Registry } = await import("prom-client");
  const registry = new Registry();
  let metricsServer: Awaited<ReturnType<typeof import("../../platform/metrics-server.ts").serveMetrics>> | undefined;
  if (opts.metricsPort !== undefined) {
    const { serveMetrics } = await import("../../platform/metrics-server.ts");
    try {
      metricsServer = await serveMetrics(registry, opts.metricsHost, opts.metricsPort);
    } catch (e) {
      await nc.close();
      redis.disconnect();
      throw e;
    }
  }
  const mm = await startMatchmaker({ nc, redis, names, config, signer, logger, sites, registry });
  if (metricsServer) logger.info({ metrics: metricsServer.url }, `matchmaker metrics at ${metricsServer.url}`);
  await serveUntilStopped(
    async () => {
      await metricsServer?.close();
      await mm.stop();
      await nc.close();
      redis.disconnect();
    },
    { onSignal: () => logger.info("matchmaker stopping") },
  );
}

export function registerMatchmaker(program: Command): void {
  program
    .command("matchmaker")
    .description("run the matchmaker service: answers pilot adverts with signed jobs and extends locks on heartbeats, until Ctrl-C")
    .option("--instances <n>", "run N matchmaker processes side by side (they share the load in one NATS queue group)", parseIntOption("--instances", 1), 1)
    .option("--metrics-port <port>", "serve Prometheus metrics (matches, refusals, heartbeats, advert latency histogram) at http://HOST:PORT/metrics; with --instances N, ports PORT..PORT+N-1 (0: any free port, logged)", parsePortOption("--metrics-port"))
    .option("--metrics-host <host>", "the address the metrics endpoint listens on", parseListenHost("--metrics-host"), "127.0.0.1")
    .addHelpText(
      "after",
      "\nReads the PKI from config pki.dir: services/matchmaker.cert.pem, services/matchmaker.key.pem (from 'wms pki init').\nLock, stalled-check and back-off timings come from the 'matchmaker' section of wms.yaml.",
    )
    .action(
      action(async (opts: MatchmakerOptions, cmd: Command) => {
        if (opts.instances > 1) await runInstances(cmd, opts.instances, opts);
        else await runOne(cmd, opts);
      }),
    );
}
