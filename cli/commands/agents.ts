import type { Command } from "commander";
import { action, configFor, parseIntOption, serveUntilStopped, stopHint } from "../command-kit.ts";
import { ERR, WmsError } from "../../schemas/index.ts";

const AGENTS = ["job-state", "accounting", "audit", "logs"] as const;
type Agent = (typeof AGENTS)[number];

/** `--only job-state,audit` (or the option given twice). */
function parseOnly(v: string, prev: Agent[] | undefined): Agent[] {
  const out = [...(prev ?? [])];
  for (const name of v.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (!(AGENTS as readonly string[]).includes(name)) throw new WmsError(ERR.USAGE, `--only '${name}' is not an agent; choose from ${AGENTS.join(", ")}`);
    out.push(name as Agent);
  }
  return out;
}

export function registerAgents(program: Command): void {
  program
    .command("agents")
    .description("run the report agents (job-state, accounting, audit, logs) as RabbitMQ consumers until Ctrl-C")
    .option("--only <agents>", `run only these agents (comma list or repeated): ${AGENTS.join(", ")}`, parseOnly)
    .option("--prefetch <n>", "reports each consumer holds unacked at once", parseIntOption("--prefetch", 1), 32)
    .addHelpText(
      "after",
      "\nStart more 'wms agents' processes for more throughput: they are competing consumers on the same queues.\nRabbitMQ, Redis and the retry timings come from wms.yaml (rabbitmq.url, redis.url, jobs.leaseSec).",
    )
    .action(
      action(async (opts: { only?: Agent[]; prefetch: number }, cmd: Command) => {
        const { connectRedis } = await import("../nats-connection.ts");
        const { createLogger } = await import("../../platform/logger.ts");
        const { startAgents } = await import("../../agents/job-state/index.ts");
        const { config, names } = configFor(cmd);
        const logger = createLogger("agents", config.logLevel);
        const redis = await connectRedis(config, { onError: (e) => logger.warn({ err: e.message }, "redis") });
        let agents;
        try {
          agents = await startAgents({ config, names, redis, logger, only: opts.only, prefetch: opts.prefetch });
        } catch (e) {
          redis.disconnect();
          throw e;
        }
        logger.info({ agents: Object.keys(agents.consumers), namespace: names.namespace }, `agents running; ${stopHint("Ctrl-C stops them")}`);
        await serveUntilStopped(
          async () => {
            await agents.stop();
            redis.disconnect();
          },
          { onSignal: () => logger.info("agents stopping") },
        );
      }),
    );
}
