// The pilot's side of signed reports: one Ed25519 report key per pilot process (its public half
// goes in every advert; the matchmaker binds it to each attempt it hands this pilot), and a sink
// that signs every state, accounting, audit and log report of an attempt the pilot holds before it
// goes to the publisher, so a report spooled through a broker outage is resent signed as it was.
// Audit and log records are given the attempt's number and lease token here, which is what the
// agents fence them with. Error reports stay unsigned: they are the error log, not a job's truth.
import type { KeyObject } from "node:crypto";
import type { Report } from "../../schemas/index.ts";
import { generateReportKey, signAttemptRequest, signReport } from "../../security/index.ts";
import type { ReportSink } from "./pilot-ports.ts";

interface HeldAttempt {
  readonly attempt: number;
  readonly lockToken: string;
}

export class AttemptReportSigner implements ReportSink {
  /** SPKI DER, base64: `MachineAdvert.reportKey`. */
  readonly publicKey: string;
  private readonly privateKey: KeyObject;
  private readonly held = new Map<string, HeldAttempt>();

  constructor(private readonly inner: ReportSink) {
    const k = generateReportKey();
    this.publicKey = k.publicKey;
    this.privateKey = k.privateKey;
  }

  /** From the envelope's verification until the attempt's last report is out; returns the release. */
  bindAttempt(jobId: string, attempt: number, lockToken: string): () => void {
    const entry = { attempt, lockToken };
    this.held.set(jobId, entry);
    return () => {
      if (this.held.get(jobId) === entry) this.held.delete(jobId);
    };
  }

  publish(report: Report): Promise<void> {
    return this.inner.publish(this.sign(report));
  }

  heldCount(): number {
    return this.inner.heldCount?.() ?? 0;
  }

  spooledOnNode(): Promise<number> {
    return this.inner.spooledOnNode?.() ?? Promise.resolve(0);
  }

  /**
   * A request about an attempt this pilot holds (the pool-lease service's), signed with the same
   * key under its own purpose, so the service can tell the pilot the attempt was handed to.
   */
  signRequest(purpose: string, text: string): string {
    return signAttemptRequest(purpose, text, this.privateKey);
  }

  /** The report as it goes out: signed when it is about an attempt this pilot holds. */
  sign(report: Report): Report {
    if (report.kind === "error" || report.jobId === undefined) return report;
    const a = this.held.get(report.jobId);
    if (!a) return report;
    switch (report.kind) {
      case "state":
      case "accounting":
        return report.attempt === a.attempt ? signReport(report, this.privateKey) : report;
      case "log":
        return report.attempt === a.attempt ? signReport({ ...report, lockToken: a.lockToken }, this.privateKey) : report;
      case "audit":
        return signReport({ ...report, attempt: a.attempt, lockToken: a.lockToken }, this.privateKey);
    }
  }
}
