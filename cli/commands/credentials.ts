import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerCredentials(program: Command): void {
  notBuilt(program, "credentials", "run the credential cache service (MyProxy's role)", 4);
}
