import type { Command } from "commander";
import { registerServices } from "./services.ts";
import { registerErrors } from "./errors.ts";
import { registerSchemas } from "./schemas.ts";
import { registerClassad } from "./classad.ts";
import { registerPki } from "./pki.ts";
import { registerSecrets } from "./secrets.ts";
import { registerProxy } from "./proxy.ts";
import { registerCredentials } from "./credentials.ts";
import { registerReplica } from "./replica.ts";
import { registerTask } from "./task.ts";
import { registerIntake } from "./intake.ts";
import { registerMatchmaker } from "./matchmaker.ts";
import { registerPilot } from "./pilot.ts";
import { registerFactory } from "./factory.ts";
import { registerAgents } from "./agents.ts";
import { registerAccounting } from "./accounting.ts";
import { registerSite } from "./site.ts";
import { registerMonitor } from "./monitor.ts";
import { registerDemo } from "./demo.ts";
import { registerInit } from "./init.ts";
import { registerUp } from "./up.ts";

/** The order `wms --help` lists them in: set-up, the language, security, work flow, operations. */
export const COMMAND_GROUPS: ReadonlyArray<(program: Command) => void> = [
  registerInit,
  registerUp,
  registerServices,
  registerErrors,
  registerSchemas,
  registerClassad,
  registerPki,
  registerSecrets,
  registerProxy,
  registerCredentials,
  registerSite,
  registerReplica,
  registerTask,
  registerIntake,
  registerMatchmaker,
  registerPilot,
  registerFactory,
  registerAgents,
  registerAccounting,
  registerMonitor,
  registerDemo,
];
