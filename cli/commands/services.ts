import { existsSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import type { Command } from "commander";
import type { LoadedConfig } from "../../platform/config.ts";
import { describeCredentials } from "../../platform/service-targets.ts";
import { secretsDirOf } from "../../deployment/up-state.ts";
import { ERR, WmsError } from "../../schemas/index.ts";
import type { TransportRole } from "../../security/transport-roles.ts";
import { action, configFor, EXIT, printJson, wmsCommand } from "../command-kit.ts";

/** A path as the user can paste it here: relative when under the working directory. */
function shown(p: string): string {
  const rel = relative(process.cwd(), resolve(p));
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : resolve(p);
}

/** Who the check logs in as: a role's identity file, or the config file's own credentials. */
function checkedAs(loaded: LoadedConfig, role: TransportRole | undefined): string {
  const file = loaded.config.identityFile;
  if (file !== undefined) return `the ${role !== undefined ? `${role} ` : ""}identity in ${shown(file)}`;
  return `${loaded.path !== undefined ? basename(loaded.path) : "the default configuration"}'s credentials (${describeCredentials(loaded.config)})`;
}

/**
 * What to do when the config's own credentials are refused in a deployment folder holding
 * `wms secrets init`'s users (.wms/secrets): servers set up from that folder (docker compose, a
 * `wms up` of another terminal) admit only those users, and before `wms up` runs no command
 * connects as them by itself. Undefined where there is no such folder or an identity was given.
 */
function secretsHint(loaded: LoadedConfig): string | undefined {
  if (loaded.config.identityFile !== undefined || loaded.path === undefined) return undefined;
  const secrets = secretsDirOf(dirname(resolve(loaded.path)));
  const operator = join(secrets, "operator", "identity.yaml");
  if (!existsSync(operator)) return undefined;
  // The registry's one-line form (WmsError.toLine), as every other coded line the CLI prints.
  return new WmsError(
    ERR.SERVICE_AUTH_FAILED,
    `${basename(loaded.path)}'s credentials were refused, and ${shown(secrets)} holds this deployment's users, the only ones servers set up from it admit: check as its operator with 'WMS_IDENTITY_FILE=${shown(operator)} ${wmsCommand()} services check'; 'wms up' connects each service as its own role from there`,
  ).toLine();
}

export function registerServices(program: Command): void {
  const services = program.command("services").description("check the NATS, Redis and RabbitMQ services pilot-wms needs");
  services
    .command("check")
    .description("connect to NATS, Redis and RabbitMQ as this config's identity; exit 1 and tell a service that does not answer (E1003) from one that refuses the credentials (E1012)")
    .option("--json", "print one JSON object")
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const loaded = configFor(cmd);
        const { config, names } = loaded;
        const { asTheUserNeedsThem, checkServices } = await import("../../platform/service-check.ts");
        const { identityRole, roleWithoutRabbitUser } = await import("../../security/transport-roles.ts");
        const statuses = asTheUserNeedsThem(await checkServices(config), roleWithoutRabbitUser(names, config));
        const allUp = statuses.every((s) => s.up);
        const identity = checkedAs(loaded, identityRole(names, config));
        const hint = statuses.some((s) => s.state === "auth-failed") ? secretsHint(loaded) : undefined;
        if (opts.json) {
          printJson({ ok: allUp, identity, services: statuses, ...(hint !== undefined && { hint }) });
        } else {
          process.stdout.write(`as ${identity}\n`);
          for (const s of statuses) {
            if (s.up) process.stdout.write(`  ok    ${s.service.padEnd(9)} ${s.url} (${s.latencyMs} ms${s.detail ? `; ${s.detail}` : ""})\n`);
            else if (s.state === "auth-failed") process.stdout.write(`  AUTH  ${s.service.padEnd(9)} ${s.url}: E${s.code} ${s.error}${s.detail ? ` (${s.detail})` : ""}\n        ${s.howToStart}\n`);
            else if (s.state === "bad-config") process.stdout.write(`  CONF  ${s.service.padEnd(9)} ${s.url}: E${s.code} ${s.error}\n`);
            else process.stdout.write(`  DOWN  ${s.service.padEnd(9)} ${s.url}: E${s.code} ${s.error}\n        start it with: ${s.howToStart}\n`);
          }
          const down = statuses.filter((s) => s.state === "down").map((s) => s.service);
          const refused = statuses.filter((s) => s.state === "auth-failed").map((s) => s.service);
          const badConfig = statuses.filter((s) => s.state === "bad-config").map((s) => s.service);
          if (allUp) process.stdout.write("all services answer\n");
          if (down.length) process.stdout.write(`not answering: ${down.join(", ")}\n`);
          if (refused.length) process.stdout.write(`answering but refusing our credentials: ${refused.join(", ")}\n`);
          if (badConfig.length) process.stdout.write(`misconfigured: ${badConfig.join(", ")}\n`);
          if (hint !== undefined) process.stdout.write(`${hint}\n`);
        }
        process.exitCode = allUp ? EXIT.ok : EXIT.failed;
      }),
    );
}
