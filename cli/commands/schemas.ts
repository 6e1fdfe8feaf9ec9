import type { Command } from "commander";
import { action, EXIT, printJson } from "../command-kit.ts";

export function registerSchemas(program: Command): void {
  const schemas = program.command("schemas").description("the JSON Schema files of every wire message");
  schemas
    .command("write")
    .description("write schemas/json/*.schema.json from the TypeBox definitions")
    .action(
      action(async () => {
        const { writeJsonSchemas } = await import("../../schemas/json-schema-files.ts");
        const files = await writeJsonSchemas();
        process.stdout.write(`wrote ${files.length} schema files to schemas/json/\n`);
      }),
    );
  schemas
    .command("check")
    .description("exit 1 if schemas/json/ is out of date")
    .option("--json", "print JSON")
    .action(
      action(async (opts: { json?: boolean }) => {
        const { staleJsonSchemas } = await import("../../schemas/json-schema-files.ts");
        const stale = await staleJsonSchemas();
        if (opts.json) printJson({ current: stale.length === 0, stale });
        else process.stdout.write(stale.length === 0 ? "schemas/json is current\n" : `stale: ${stale.join(", ")} (run 'npm run schemas')\n`);
        process.exitCode = stale.length === 0 ? EXIT.ok : EXIT.failed;
      }),
    );
}
