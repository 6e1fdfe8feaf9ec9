import type { Command } from "commander";
import { action, configFor, deprecatedAlias, serveUntilStopped } from "../command-kit.ts";
import { connectNats, connectRedis } from "../nats-connection.ts";

export function registerIntake(program: Command): void {
  const intake = program.command("intake").description("the intake service: accepts signed task batches, brokers their jobs to the sites holding the data, queues them");

  const serve = intake
    .command("serve")
    .description("run the intake service until Ctrl-C (several may run side by side: they share requests in one NATS queue group)")
    .option("--sites-file <file>", "site config to publish at start (default: sitesFile from wms.yaml)")
    .addHelpText("after", "\nReads the CA bundle and its own certificate (services/intake.*) from config pki.dir (from 'wms pki init'): it verifies submitters' certificates\nand asks the credential cache whether a task's owner has a delegated credential that outlives a job's walltime (refused with E2302/E2303 otherwise).\nQuotas come from the 'quotas' section of wms.yaml; usage from the accounting agent.")
    .action(
      action(async (opts: { sitesFile?: string }, cmd: Command) => {
        const { config: base, names } = configFor(cmd);
        const config = opts.sitesFile === undefined ? base : { ...base, sitesFile: opts.sitesFile };
        const { createLogger } = await import("../../platform/logger.ts");
        const { loadTrust, readServiceCredentials } = await import("../../security/index.ts");
        const { startIntake } = await import("../../matchmaker/index.ts");
        const { DispatchQueues } = await import("../../jobs/index.ts");
        const { CredentialClient } = await import("../../agents/credentials/index.ts");
        const trust = loadTrust(config.pki.dir);
        const own = readServiceCredentials(config.pki.dir, "intake");
        const logger = createLogger("intake", config.logLevel);
        const nc = await connectNats(config, "wms-intake", logger);
        const redis = await connectRedis(config, { onError: (e) => logger.warn({ err: e.message }, "redis") });
        const dispatch = new DispatchQueues({
          redis,
          names,
          lockMs: config.jobs.leaseSec * 1000,
          stalledIntervalMs: config.jobs.leaseCheckSec * 1000,
          onError: (err, context) => logger.error({ err, context }, "dispatch queues"),
        });
        const closeAll = async (): Promise<void> => {
          await dispatch.close();
          await nc.close();
          redis.disconnect();
        };
        // The intake asks the credential cache, as itself, whether a task's owner has a usable credential.
        const caller = { certChain: [own.certPem], keyPem: own.keyPem };
        const cache = new CredentialClient(nc, names, { trust, caller, timeoutMs: 5_000 });
        const credentials = { info: (userDn: string) => cache.info(caller, userDn) };
        const service = await startIntake({ nc, redis, names, config, trust, dispatch, logger, credentials }).catch(async (e: unknown) => {
          await closeAll();
          throw e;
        });
        await serveUntilStopped(
          async () => {
            await service.stop();
            await closeAll();
          },
          { onSignal: () => logger.info("intake stopping") },
        );
      }),
    );
  deprecatedAlias(serve, "--sites <file>", "--sites-file");
}
