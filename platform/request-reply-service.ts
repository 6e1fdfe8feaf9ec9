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
import type { Msg, NatsConnection, Subscription } from "nats";
import { ERR, SCHEMA_VERSION, WmsError, isWmsError, toWmsError, type ErrorReply } from "../schemas/index.ts";
import type { Logger } from "./logger.ts";

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

  async function answer(msg: Msg): Promise<void> {
    let reply: Reply | ReturnType<typeof errorReplyOf> | undefined;
    try {
      reply = await o.handler(decoded(msg.data), msg);
    } catch (e) {
      reply = await failed(e, msg.data);
    }
    if (reply === undefined || !msg.reply) return;
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
      // answer() settles every request with a reply and never rejects; the catch only keeps a
      // broken logger from stopping the sequence.
      const p = (o.sequential ? tail.then(() => answer(msg)) : answer(msg)).catch(() => undefined);
      if (o.sequential) tail = p;
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
