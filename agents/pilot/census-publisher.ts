// The pilot's census on `names.subjects.pilotCensus`: the factory counts idle, running, exited and
// empty pilots from it. Fire and forget, and repeated every census interval while the pilot lives
// (as Harvester's workers keep reporting), so a factory that restarted, or missed a message while
// NATS reconnected, hears every live pilot again within one interval; a pilot that falls silent
// for two intervals is counted missed.
import type { NatsConnection } from "nats";
import { PilotCensus, SCHEMA_VERSION, type WireNames } from "../../schemas/index.ts";
import { censusProof } from "../../security/index.ts";
import type { CensusSink, CensusSnapshot } from "./pilot-ports.ts";

const encoder = new TextEncoder();

export interface CensusPublisherOptions {
  readonly queue?: string;
  readonly factoryId?: string;
  /** Repeat the last state this often (ms) until `exited`; 0 or absent: only on changes. */
  readonly repeatMs?: number;
  /**
   * The pilot token: each census carries the proof made from it (security's censusProof), without
   * which the factory believes no census naming this pilot (anyone with the pilots' NATS identity
   * could send one).
   */
  readonly token?: string;
}

export function natsCensus(nc: NatsConnection, names: WireNames, extra: CensusPublisherOptions = {}): CensusSink {
  let last: CensusSnapshot | undefined;
  let timer: NodeJS.Timeout | undefined;
  // One pilot id per sink in practice; worked out once per id, not per message.
  let proved: { pilotId: string; proof: string } | undefined;
  const proofOf = (pilotId: string, token: string): string => {
    if (proved?.pilotId !== pilotId) proved = { pilotId, proof: censusProof(token, pilotId) };
    return proved.proof;
  };
  const publish = (s: CensusSnapshot): void => {
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
      ...(s.heldReports ? { heldReports: s.heldReports } : {}),
      at: Date.now(),
      ...(extra.token !== undefined && extra.token !== "" ? { proof: proofOf(s.pilotId, extra.token) } : {}),
    };
    if (nc.isClosed()) return;
    nc.publish(names.subjects.pilotCensus, encoder.encode(JSON.stringify(msg)));
  };
  return (s) => {
    last = s;
    publish(s);
    if (s.state === "exited") {
      clearInterval(timer);
      timer = undefined;
    } else if (timer === undefined && extra.repeatMs !== undefined && extra.repeatMs > 0) {
      timer = setInterval(() => {
        if (last && last.state !== "exited") publish(last);
      }, extra.repeatMs);
      // The census never keeps a pilot alive on its own.
      timer.unref();
    }
  };
}
