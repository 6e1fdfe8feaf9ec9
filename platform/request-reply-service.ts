// One NATS request/reply service loop for every service that answers requests (pool leases, the
// credential cache, the intake, factory control): subscribe, decode, handle, answer. Every request
// gets one reply: the handler's, or a coded error that changed nothing (bad input is BAD_INPUT; a
// failure the code did not expect is INTERNAL with its first line, its stack goes to the log only).
// stop() stops taking requests and waits until every request taken has been answered.
//
// Not nats.js's Services API (`nc.services.add`, in the installed nats 2.29): it also subscribes to
// the discovery subjects `$SRV.PING|INFO|STATS`, which no role's NATS permissions grant
// (security/transport-roles.ts), and a refused subscription stops the whole service; those
// subjects would also tell anyone on the bus which services run where. Its handlers are plain
// callbacks, so stop() would not wait for the asynchronous work (Redis scripts, audit writes) of
// requests in flight, and an error it answers travels in headers our replies' schemas do not carry.
import { createHash } from "node:crypto";
import type { Msg, NatsConnection, Subscription } from "nats";
import { ERR, SCHEMA_VERSION, WmsError, isWmsError, toWmsError, type ErrorReply } from "../schemas/index.ts";
import type { Logger } from "./logger.ts";

/**
 * Whether a request's reply subject is an inbox, the only place a service answers into. A responder
 * may publish to the reply subject of anything it receives (nats-server's allow_responses), whatever
 * the requester named there: a pilot naming factory control or the census as the reply of its advert
 * had the matchmaker publish where pilots may not. Every role's requests use an `_INBOX.` prefix
 * (security/transport-roles.ts inboxPrefix), nats.js's default included.
 */
export function isInboxReply(reply: string | undefined): reply is string {
  return reply !== undefined && reply.startsWith("_INBOX.");
}

export interface ServeRequestsOptions<Req, Reply> {
  /** The queue group: instances of a service share its requests, each answered by one. */
  readonly queue?: string;
  /** The request's bytes as the handler takes them; anything it throws is answered as BAD_INPUT (or its own code). */
  readonly decode: (data: Uint8Array) => Req;
  /** The answer; `undefined` answers nothing (a request meant for another instance). */
  readonly handler: (req: Req, msg: Msg) => Promise<Reply | undefined>;
  readonly log?: Logger;
  /** What a log line calls this service's request ("pool-lease request"). */
  readonly what: string;
  /** One request at a time, in arrival order (two changes of one knob apply in the order sent). */
  readonly sequential?: boolean;
  /**
   * Called with every error, as coded, before it is answered: the service's own trace of a
   * refusal (log, audit, a counter), which then is not logged here again (INTERNAL still is).
   */
  readonly refused?: (err: WmsError, data: Uint8Array) => Promise<void>;
  /**
   * A request whose bytes equal those of one still being handled is answered with that one's reply
   * instead of being handled again: a caller that timed out on a slow service sends the very same
   * request again, and each copy would redo the work and add to the load that made it slow. Keyed
   * by a hash of every byte, so only a byte-for-byte copy shares: a request signed by anyone else,
   * or naming anything else, is handled on its own. For handlers whose answer follows from the
   * bytes alone (not `msg`'s reply subject or headers), whose copy gets the same answer when
   * handled anew anyway. `max` caps the requests remembered at once; past it, a request is handled
   * on its own as without this option.
   */
  readonly shareRepeats?: { readonly max: number };
}

export interface RequestReplyService {
  /** Stops taking requests; resolves once every request taken has been answered. */
  stop(): Promise<void>;
}

const encoder = new TextEncoder();

/** A failure as the coded error reply every reply schema carries (schemas/messages/common.ts). */
function errorReplyOf(e: unknown): ErrorReply {
  return { schemaVersion: SCHEMA_VERSION, ...toWmsError(e).toReply() };
}

/** Answers requests on `subject` until `stop()`. */
export function serveRequests<Req, Reply>(nc: NatsConnection, subject: string, o: ServeRequestsOptions<Req, Reply>): RequestReplyService {
  const inFlight = new Set<Promise<void>>();
  let tail: Promise<void> = Promise.resolve();

  async function failed(e: unknown, data: Uint8Array): Promise<ReturnType<typeof errorReplyOf>> {
    const w = toWmsError(e);
    if (w.code === ERR.INTERNAL) o.log?.error({ err: e, subject }, `${o.what} failed`);
    if (o.refused !== undefined) {
      await o.refused(w, data).catch((err: unknown) => o.log?.error({ err: (err as Error).message, subject }, `a refused ${o.what} could not be recorded`));
    } else if (w.code !== ERR.INTERNAL) {
      // A refusal of ours is the caller's business; a server away or a permission refused the operator's.
      if (isWmsError(e)) o.log?.info({ code: w.code, subject }, w.message);
      else o.log?.warn({ code: w.code, subject }, w.message);
    }
    return errorReplyOf(w);
  }

  // Whatever the decoder throws is about the request's bytes: bad input, never INTERNAL.
  function decoded(data: Uint8Array): Req {
    try {
      return o.decode(data);
    } catch (e) {
      throw isWmsError(e) ? e : new WmsError(ERR.BAD_INPUT, `${o.what}: ${toWmsError(e).detail}`);
    }
  }

  type Answer = Reply | ReturnType<typeof errorReplyOf> | undefined;

  // The handler's reply or the coded error; never rejects.
  async function handled(msg: Msg): Promise<Answer> {
    try {
      return await o.handler(decoded(msg.data), msg);
    } catch (e) {
      return failed(e, msg.data);
    }
  }

  // Taken in turn when sequential.
  function replyOf(msg: Msg): Promise<Answer> {
    if (!o.sequential) return handled(msg);
    const p = tail.then(() => handled(msg));
    tail = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  const pending = new Map<string, Promise<Answer>>();
  // The first copy's reply for a copy of a request still being handled (shareRepeats).
  function sharedReplyOf(msg: Msg, max: number): Promise<Answer> {
    const key = createHash("sha256").update(msg.data).digest("base64");
    const first = pending.get(key);
    if (first !== undefined) {
      o.log?.debug({ subject }, `${o.what} asked again while the first copy is handled: answered with its reply`);
      return first;
    }
    const p = replyOf(msg);
    if (pending.size < max) {
      pending.set(key, p);
      const forget = (): void => void pending.delete(key);
      p.then(forget, forget);
    }
    return p;
  }

  function send(msg: Msg, reply: Answer): void {
    if (reply === undefined || !isInboxReply(msg.reply)) return;
    try {
      msg.respond(encoder.encode(JSON.stringify(reply)));
    } catch (e) {
      // The connection closed while the request was handled: the caller times out and asks again.
      o.log?.warn({ err: (e as Error).message, subject }, `${o.what} answered after the connection closed`);
    }
  }

  const sub: Subscription = nc.subscribe(subject, {
    ...(o.queue !== undefined ? { queue: o.queue } : {}),
    callback: (err, msg) => {
      if (err) {
        o.log?.error({ err: err.message, subject }, "subscription error");
        return;
      }
      // Every request settles with a reply and never rejects; the catch only keeps a broken
      // logger from stopping the sequence.
      const p = (o.shareRepeats !== undefined ? sharedReplyOf(msg, o.shareRepeats.max) : replyOf(msg)).then((reply) => send(msg, reply)).catch(() => undefined);
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    },
  });

  return {
    async stop() {
      // drain: the server stops sending, and what it sent before is still handed to the callback.
      await sub.drain().catch(() => {
        // The connection is closed or draining already: nothing more comes.
      });
      await Promise.allSettled([...inFlight]);
    },
  };
}
