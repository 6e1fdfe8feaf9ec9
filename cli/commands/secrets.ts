import type { Command } from "commander";
import { action, configFor, printJson } from "../command-kit.ts";

export function registerSecrets(program: Command): void {
  const secrets = program.command("secrets").description("identities per role on NATS, Redis and RabbitMQ, and the server files that enforce least privilege");
  secrets
    .command("init")
    .description(
      "write one identity per role (intake, matchmaker, agents, credentials, factory, monitor, pilot, operator, pool-leases) into DIR/<role>/ and the server files into DIR/servers/: nats-auth.conf (NKey users, subject permissions), redis-users.acl (ACL users, default user off), rabbitmq-definitions.json and rabbitmq-apply.sh (users, vhost, permissions, no guest)",
    )
    .requiredOption("--dir <dir>", "folder to create; must not hold secrets yet")
    .option("--json", "print the result as JSON")
    .action(
      action(async (opts: { dir: string; json?: boolean }, cmd: Command) => {
        const { names } = configFor(cmd);
        const [{ initTransportSecrets }, { makeFolder }] = await Promise.all([import("../../security/index.ts"), import("../../platform/make-folder.ts")]);
        makeFolder(opts.dir);
        const r = initTransportSecrets(opts.dir, names);
        if (opts.json) return printJson(r);
        process.stdout.write(`transport identities for namespace '${r.namespace}' in ${r.dir}\n`);
        for (const role of r.roles) {
          const on = [role.natsPublicKey ? "nats" : "", role.redisUser ? "redis" : "", role.rabbitUser ? "rabbitmq" : ""].filter(Boolean).join(", ");
          process.stdout.write(`  ${role.role.padEnd(11)} ${on || "(no transport)"}\n    WMS_IDENTITY_FILE=${role.identityFile}\n`);
        }
        process.stdout.write(
          `servers:\n  nats-server: include ${r.natsConfig}\n  redis-server: --aclfile ${r.redisAclFile}\n  rabbitmq: ${r.rabbitApplyScript} (or load ${r.rabbitDefinitions})\n`,
        );
      }),
    );
}
