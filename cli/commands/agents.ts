import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerAgents(program: Command): void {
  notBuilt(program, "agents", "run the job-state and accounting agents (RabbitMQ consumers)", 7);
}
