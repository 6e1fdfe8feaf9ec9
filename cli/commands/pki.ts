import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerPki(program: Command): void {
  notBuilt(program, "pki", "create the CA and issue user, pilot and service certificates", 4);
}
