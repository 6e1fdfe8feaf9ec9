// The pilot's census on `names.subjects.pilotCensus`: the factory counts idle, running, exited and
// empty pilots from it. Fire and forget: a census lost while NATS reconnects costs nothing lasting.
import type { NatsConnection } from "nats";
import { PilotCensus, SCHEMA_VERSION, type WireNames } from "../../schemas/index.ts";
import type { CensusSink } from "./pilot-ports.ts";

const encoder = new TextEncoder();

export function natsCensus(nc: NatsConnection, names: WireNames, extra: { queue?: string; factoryId?: string } = {}): CensusSink {
  return (s) => {
    const msg: PilotCensus = {
      schemaVersion: SCHEMA_VERSION,
      pilotId: s.pilotId,
      site: s.site,
      ...(extra.queue !== undefined ? { queue: extra.queue } : {}),
      ...(extra.factoryId !== undefined ? { factoryId: extra.factoryId } : {}),
      state: s.state,
      jobsDone: s.jobsDone,
      jobsFailed: s.jobsFailed,
      emptyAdverts: s.emptyAdverts,
      at: Date.now(),
    };
    nc.publish(names.subjects.pilotCensus, encoder.encode(JSON.stringify(msg)));
  };
}
