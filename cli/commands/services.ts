import type { Command } from "commander";
import { action, configFor, EXIT, printJson } from "../command-kit.ts";

export function registerServices(program: Command): void {
  const services = program.command("services").description("check the NATS, Redis and RabbitMQ services pilot-wms needs");
  services
    .command("check")
    .description("ping NATS, Redis and RabbitMQ; exit 1 and say how to start any that does not answer")
    .option("--json", "print one JSON object")
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const { config } = configFor(cmd);
        const { checkServices } = await import("../../platform/service-check.ts");
        const statuses = await checkServices(config);
        const allUp = statuses.every((s) => s.up);
        if (opts.json) {
          printJson({ ok: allUp, services: statuses });
        } else {
          for (const s of statuses) {
            if (s.up) process.stdout.write(`  ok    ${s.service.padEnd(9)} ${s.url} (${s.latencyMs} ms)\n`);
            else process.stdout.write(`  DOWN  ${s.service.padEnd(9)} ${s.url}: ${s.error}\n        start it with: ${s.howToStart}\n`);
          }
          process.stdout.write(allUp ? "all services answer\n" : `not answering: ${statuses.filter((s) => !s.up).map((s) => s.service).join(", ")}\n`);
        }
        process.exitCode = allUp ? EXIT.ok : EXIT.failed;
      }),
    );
}
