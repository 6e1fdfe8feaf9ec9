// What the pilot needs from the services around it, as the narrow shapes it calls. The CLI and the
// demo fill them with the real ReportPublisher (agents/reports/), CredentialClient
// (agents/credentials/) and NATS; the pilot's logic never names a transport.
import type { Report } from "../../schemas/index.ts";

/** agents/reports/ ReportPublisher: confirmed, spooled to disk while RabbitMQ is away. */
export interface ReportSink {
  publish(report: Report): Promise<void>;
  /** Reports held in memory only (neither confirmed nor on disk): the pilot takes no new job and does not exit while any are. */
  heldCount?(): number;
  /**
   * Reports in the node's spool folder not yet confirmed, whoever spooled them: the pilot does not
   * leave the node while any are and it has walltime left, so a report is not stranded there.
   */
  spooledOnNode?(): Promise<number>;
  /**
   * Signs this attempt's reports from now until the returned release (attempt-report-signer.ts);
   * a sink without it sends them unsigned, and the agents refuse those.
   */
  bindAttempt?(jobId: string, attempt: number, lockToken: string): () => void;
}

export interface RetrievedProxy {
  /** Proxy certificate chain and key, PEM, as the payload's X509_USER_PROXY file holds it. */
  readonly proxyPem: string;
  /** Epoch ms the proxy stops being valid; the pilot renews before it. */
  readonly notAfter: number;
}

export interface CredentialRequest {
  readonly oneTimeKey: string;
  readonly userDn: string;
  readonly jobId: string;
  readonly pilotId: string;
  /** The attempt the one-time key belongs to (the envelope's job.attempt). */
  readonly attempt: number;
  /** Aborted when the pilot is preempted: a retrieval asking again through an outage stops. */
  readonly signal?: AbortSignal;
}

/** agents/credentials/ CredentialClient, seen from the pilot. */
export interface CredentialSource {
  retrieve(req: CredentialRequest): Promise<RetrievedProxy>;
  renew(req: CredentialRequest): Promise<RetrievedProxy>;
}

export type PilotCensusState = "starting" | "idle" | "running" | "exited";

export interface CensusSnapshot {
  readonly pilotId: string;
  readonly site: string;
  readonly state: PilotCensusState;
  readonly jobsDone: number;
  readonly jobsFailed: number;
  readonly emptyAdverts: number;
  /** Reports held in memory only (ReportSink.heldCount); absent or 0 when none. */
  readonly heldReports?: number;
}

/** Publishes the pilot's state for the factory's census; fire and forget. */
export type CensusSink = (snapshot: CensusSnapshot) => void;
