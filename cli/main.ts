// `wms`: one CLI for every part of pilot-wms. Each command group lives in cli/commands/<group>.ts
// and imports its heavy modules inside the action, so `wms --help` and small commands start fast.
import { Command, CommanderError } from "commander";
import { fail, EXIT } from "./command-kit.ts";
import { COMMAND_GROUPS } from "./commands/index.ts";

const program = new Command("wms")
  .description("pilot-wms: pilot-based workload management with a ClassAd matchmaker")
  .version("0.1.0")
  .option("-c, --config <file>", "config file (default: ./wms.yaml or $WMS_CONFIG)")
  .option("--namespace <ns>", "deployment namespace for subjects, queues and keys (default: wms)")
  .showHelpAfterError("(run 'wms --help' for the list of commands)")
  .exitOverride();

for (const register of COMMAND_GROUPS) register(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  fail(e);
}
