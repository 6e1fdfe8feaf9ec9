import type { Command } from "commander";
import { action, configFor, EXIT, printJson } from "../command-kit.ts";

export function registerServices(program: Command): void {
  const services = program.command("services").description("check the NATS, Redis and RabbitMQ services pilot-wms needs");
  services
    .command("check")
    .description("connect to NATS, Redis and RabbitMQ as this config's identity; exit 1 and tell a service that does not answer (E1003) from one that refuses the credentials (E1012)")
    .option("--json", "print one JSON object")
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const { config, names } = configFor(cmd);
        const { asTheUserNeedsThem, checkServices } = await import("../../platform/service-check.ts");
        const { roleWithoutRabbitUser } = await import("../../security/transport-roles.ts");
        const statuses = asTheUserNeedsThem(await checkServices(config), roleWithoutRabbitUser(names, config));
        const allUp = statuses.every((s) => s.up);
        if (opts.json) {
          printJson({ ok: allUp, services: statuses });
        } else {
          for (const s of statuses) {
            if (s.up) process.stdout.write(`  ok    ${s.service.padEnd(9)} ${s.url} (${s.latencyMs} ms${s.detail ? `; ${s.detail}` : ""})\n`);
            else if (s.state === "auth-failed") process.stdout.write(`  AUTH  ${s.service.padEnd(9)} ${s.url}: E${s.code} ${s.error}\n        ${s.howToStart}\n`);
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
        }
        process.exitCode = allUp ? EXIT.ok : EXIT.failed;
      }),
    );
}
