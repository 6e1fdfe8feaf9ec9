// What the pilot needs from the services around it, as the narrow shapes it calls. The CLI and the
// demo fill them with the real ReportPublisher (agents/reports/), CredentialClient
// (agents/credentials/) and NATS; the pilot's logic never names a transport.
import type { Report } from "../../schemas/index.ts";
import type { RetrievedProxy as ClientRetrievedProxy, RetrieveRequest } from "../credentials/index.ts";

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

/** What the pilot reads of a retrieved proxy: the chain and key it writes for the payload, and when it runs out (it renews before). */
export type RetrievedProxy = Pick<ClientRetrievedProxy, "proxyPem" | "notAfter">;

/** A retrieval or renewal as the credential client takes it. */
export type CredentialRequest = RetrieveRequest;

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
