import type { Command } from "commander";
import path from "node:path";
import { action, configFor, printJson, serveUntilStopped } from "../command-kit.ts";
import { ERR, WmsError } from "../../schemas/index.ts";
import { connectNats, connectRedis } from "../nats-connection.ts";

export function registerCredentials(program: Command): void {
  const credentials = program.command("credentials").description("the credential cache service (MyProxy's role)");

  credentials
    .command("serve")
    .description(
      "run the credential cache until SIGINT/SIGTERM; needs credentials.encryptionKey (or WMS_CREDENTIAL_KEY) or a keyring (credentials.keyringFile, WMS_CREDENTIAL_KEYRING) and the PKI folder (pki.dir). " +
        "Audit records (releases, refusals, key reuse) go to RabbitMQ's audit queue, spooled to disk while it is away",
    )
    .option("--spool-dir <dir>", "folder for audit records RabbitMQ has not confirmed yet", ".wms/spool/credentials")
    .action(
      action(async (opts: { spoolDir: string }, cmd: Command) => {
        const { config, names } = configFor(cmd);
        // The spool folder is made (and refused, one coded line) before anything starts.
        const { makeFolder } = await import("../../platform/make-folder.ts");
        makeFolder(opts.spoolDir);
        const { createLogger } = await import("../../platform/logger.ts");
        const { loadTrust, CredentialKeyring } = await import("../../security/index.ts");
        const { startCredentialCache } = await import("../../agents/credentials/index.ts");
        const { ReportPublisher } = await import("../../agents/reports/index.ts");
        const keyring = new CredentialKeyring(config.credentials);
        const trust = loadTrust(config.pki.dir);
        const logger = createLogger("credentials", config.logLevel);
        const nc = await connectNats(config, "wms-credentials", logger);
        const redis = await connectRedis(config, { onError: (e) => logger.warn({ err: e.message }, "redis") });
        const reports = new ReportPublisher({ url: config.rabbitmq.url, rabbit: config.rabbitmq, names, spoolDir: opts.spoolDir, logger });
        const cache = startCredentialCache({ nc, redis, names, config, trust, logger, reports, keyring });
        // Ready only once NATS has its subscriptions: `wms up` delegates the users' proxies next.
        await cache.ready;
        await serveUntilStopped(async () => {
          await cache.stop();
          await nc.close();
          redis.disconnect();
          await reports.close();
        });
      }),
    );

  credentials
    .command("rotate-key")
    .description(
      "add a new credential-sealing key to the keyring (credentials.keyringFile or --keyring; created with credentials.encryptionKey in it when missing) and make it current: " +
        "new records are sealed with it, older ones still open under their key's id. A running cache picks it up within a second. " +
        "--reseal then moves every stored credential of the namespace to the new key, so the old one can be removed",
    )
    .option("--keyring <file>", "the keyring file (JSON, mode 0600); default credentials.keyringFile")
    .option("--reseal", "re-seal the stored credentials under the new key (needs Redis)")
    .option("--json", "print the result as JSON")
    .action(
      action(async (opts: { keyring?: string; reseal?: boolean; json?: boolean }, cmd: Command) => {
        const { config, names } = configFor(cmd);
        const keyringFile = opts.keyring ?? config.credentials.keyringFile;
        if (keyringFile === undefined) throw new WmsError(ERR.USAGE, "say where the keyring lives: --keyring FILE, credentials.keyringFile or WMS_CREDENTIAL_KEYRING");
        const { rotateCredentialKey, CredentialKeyring } = await import("../../security/index.ts");
        // Its folder first, as the init commands make theirs: writing into a missing one was E1000 INTERNAL.
        const { makeFolder } = await import("../../platform/make-folder.ts");
        makeFolder(path.dirname(path.resolve(keyringFile)), 0o700);
        const rotated = rotateCredentialKey({ encryptionKey: config.credentials.encryptionKey, keyringFile });
        let resealed: { resealed: number; current: number; unreadable: number } | undefined;
        if (opts.reseal) {
          const { connectRedis } = await import("../nats-connection.ts");
          const { CredentialRecords } = await import("../../agents/credentials/credential-records.ts");
          // A connection of its own: re-sealing uses WATCH, which must not share a connection.
          const redis = await connectRedis(config);
          try {
            resealed = await new CredentialRecords(redis, names, new CredentialKeyring({ ...config.credentials, keyringFile })).resealAll();
          } finally {
            redis.disconnect();
          }
        }
        if (opts.json) return printJson({ ...rotated, ...(resealed !== undefined ? { resealed } : {}) });
        process.stdout.write(`credential key ${rotated.currentKeyId} is current${rotated.previousKeyId !== undefined ? ` (was ${rotated.previousKeyId})` : ""}; the keyring ${rotated.file} holds ${rotated.keyIds.length} key(s)\n`);
        if (resealed !== undefined) {
          process.stdout.write(`re-sealed ${resealed.resealed} credential(s); ${resealed.current} already under the new key; ${resealed.unreadable} unreadable (left as they are)\n`);
        }
      }),
    );
}
