// Every command that talks to a service opens NATS the same way: a server that does not answer is
// one line with SERVICE_UNAVAILABLE and the URL tried, not a stack trace.
import type { NatsConnection } from "nats";
import { ERR, WmsError, type WmsConfig } from "../schemas/index.ts";

export async function connectNats(config: WmsConfig, clientName: string): Promise<NatsConnection> {
  // Imported here so `wms --help` does not load the NATS client.
  const { openNats } = await import("../platform/connections.ts");
  try {
    return await openNats(config, clientName);
  } catch (e) {
    throw new WmsError(ERR.SERVICE_UNAVAILABLE, `NATS at ${config.nats.url}: ${(e as Error).message}`);
  }
}
