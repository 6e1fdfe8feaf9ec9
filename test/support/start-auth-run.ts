// Runs the test run's global set-up (auth-run.ts) alone, as vitest would, and waits: a process
// test/platform/auth-run-orphans.heavy.test.ts kills to see the private servers go with it.
// Prints the secrets folder once the servers answer. `node --import tsx test/support/start-auth-run.ts`
import setup from "./auth-run.ts";

await setup();
process.stdout.write(`ready ${process.env.WMS_TEST_SECRETS ?? ""}\n`);
setInterval(() => undefined, 60_000);
