import type { Command } from "commander";
import { action, configFor, serveUntilStopped } from "../command-kit.ts";
import { connectNats } from "../nats-connection.ts";

export function registerCredentials(program: Command): void {
  const credentials = program.command("credentials").description("the credential cache service (MyProxy's role)");

  credentials
    .command("serve")
    .description(
      "run the credential cache until SIGINT/SIGTERM; needs credentials.encryptionKey (or WMS_CREDENTIAL_KEY) and the PKI folder (pki.dir). " +
        "Audit records (releases, refusals, key reuse) go to RabbitMQ's audit queue, spooled to disk while it is away",
    )
    .option("--spool-dir <dir>", "folder for audit records RabbitMQ has not confirmed yet", ".wms/spool/credentials")
    .action(
      action(async (opts: { spoolDir: string }, cmd: Command) => {
        const { config, names } = configFor(cmd);
        const { openRedis } = await import("../../platform/connections.ts");
        const { createLogger } = await import("../../platform/logger.ts");
        const { loadTrust, credentialKeyFromBase64 } = await import("../../security/index.ts");
        const { startCredentialCache } = await import("../../agents/credentials/index.ts");
        const { ReportPublisher } = await import("../../agents/reports/index.ts");
        credentialKeyFromBase64(config.credentials.encryptionKey);
        const trust = loadTrust(config.pki.dir);
        const logger = createLogger("credentials", config.logLevel);
        const nc = await connectNats(config, "wms-credentials");
        const redis = openRedis(config);
        const reports = new ReportPublisher({ url: config.rabbitmq.url, rabbit: config.rabbitmq, names, spoolDir: opts.spoolDir, logger });
        const cache = startCredentialCache({ nc, redis, names, config, trust, logger, reports });
        await serveUntilStopped(async () => {
          await cache.stop();
          await nc.close();
          redis.disconnect();
          await reports.close();
        });
      }),
    );
}
