// The submitter's side of the intake: sends a signed batch or control request over NATS and turns
// the reply into a result or a WmsError with the intake's code. Used by `wms task` and the tests.
import type { NatsConnection } from "nats";
import { ControlReply, ERR, errorEntry, SubmitReply, WmsError, type ControlDone, type SignedTaskBatch, type SignedTaskControl, type SubmitAccepted, type WireNames } from "../schemas/index.ts";

const encoder = new TextEncoder();

/** Rebuilds the intake's error here, keeping its code and its situation-specific detail. */
export function errorFromReply(r: { code: number; message: string }): WmsError {
  if (!errorEntry(r.code)) return new WmsError(ERR.INTERNAL, `unknown error code ${r.code}: ${r.message}`);
  return WmsError.fromReply(r);
}

export class TaskClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly names: WireNames,
    private readonly timeoutMs = 60_000,
  ) {}

  private async request(subject: string, body: unknown): Promise<Uint8Array> {
    try {
      return (await this.nc.request(subject, encoder.encode(JSON.stringify(body)), { timeout: this.timeoutMs })).data;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "503") throw new WmsError(ERR.SERVICE_UNAVAILABLE, `no intake answers on ${subject}; start the deployment with 'wms up' (or an intake alone with 'wms intake serve')`);
      if (code === "TIMEOUT") throw new WmsError(ERR.TIMEOUT, `the intake did not answer on ${subject} within ${this.timeoutMs / 1000} s`);
      throw e;
    }
  }

  async submit(signed: SignedTaskBatch): Promise<SubmitAccepted> {
    const reply = SubmitReply.parseJson(await this.request(this.names.subjects.intakeSubmit, signed));
    if (reply.status === "error") throw errorFromReply(reply);
    return reply;
  }

  async control(signed: SignedTaskControl): Promise<ControlDone> {
    const reply = ControlReply.parseJson(await this.request(this.names.subjects.intakeControl, signed));
    if (reply.status === "error") throw errorFromReply(reply);
    return reply;
  }
}
