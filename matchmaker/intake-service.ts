// The intake service: NATS request/reply on `intakeSubmit` and `intakeControl`, in the intake queue
// group so several instances share the requests (all state is in Redis). Every request gets a reply:
// the result, or an error with its registry code; bad input changes nothing.
import type { Msg, NatsConnection, Subscription } from "nats";
import { ERR, isWmsError, toWmsError, WmsError } from "../schemas/index.ts";
import { controlTask } from "./intake-control.ts";
import { createIntakeContext, type IntakeContext, type IntakeDeps } from "./intake-context.ts";
import { submitTask } from "./intake-submit.ts";
import { startOpenTaskPlanner } from "./open-task-planner.ts";
import { loadSiteConfig } from "./site-registry.ts";

export interface IntakeOptions extends IntakeDeps {
  readonly nc: NatsConnection;
}

export interface IntakeService {
  /** Stops taking requests and waits for those in progress. */
  stop(): Promise<void>;
}

/** How often an intake looks for new input files of its open tasks: the delay from a producer's output to the consumer's job. */
const OPEN_TASK_POLL_MS = 2000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function errorReply(e: unknown, ctx: IntakeContext, subject: string): Record<string, unknown> {
  if (isWmsError(e)) {
    ctx.logger.info({ subject, code: e.code }, e.message);
    return { schemaVersion: 1, ...e.toReply() };
  }
  const w = toWmsError(e);
  if (w.code === ERR.INTERNAL) ctx.logger.error({ err: e, subject }, "intake request failed");
  else ctx.logger.warn({ subject, code: w.code }, w.message);
  return { schemaVersion: 1, ...w.toReply() };
}

function parseBody(msg: Msg): unknown {
  try {
    return JSON.parse(decoder.decode(msg.data));
  } catch (e) {
    throw new WmsError(ERR.BAD_INPUT, `the request is not JSON (${(e as Error).message})`);
  }
}

/**
 * Publishes the site config (when `config.sitesFile` is set) so brokerage sees the sites, then
 * answers requests until `stop()`.
 */
export async function startIntake(opts: IntakeOptions): Promise<IntakeService> {
  const ctx = createIntakeContext(opts);
  if (opts.config.sitesFile !== undefined) await ctx.sites.publish(loadSiteConfig(opts.config.sitesFile));
  const inFlight = new Set<Promise<void>>();
  const serve = (subject: string, handle: (body: unknown) => Promise<unknown>): Subscription =>
    opts.nc.subscribe(subject, {
      queue: opts.names.queueGroups.intake,
      callback: (err, msg) => {
        if (err) {
          ctx.logger.error({ err, subject }, "subscription error");
          return;
        }
        const p = (async () => {
          let reply: unknown;
          try {
            reply = await handle(parseBody(msg));
          } catch (e) {
            reply = errorReply(e, ctx, subject);
          }
          if (msg.reply) msg.respond(encoder.encode(JSON.stringify(reply)));
        })();
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      },
    });
  const subs = [serve(opts.names.subjects.intakeSubmit, (b) => submitTask(ctx, b)), serve(opts.names.subjects.intakeControl, (b) => controlTask(ctx, b))];
  const pollMs = opts.openTaskPollMs ?? OPEN_TASK_POLL_MS;
  const planner = pollMs > 0 ? startOpenTaskPlanner(ctx, pollMs) : undefined;
  ctx.logger.info({ submit: opts.names.subjects.intakeSubmit, control: opts.names.subjects.intakeControl }, "intake serving");
  return {
    async stop() {
      for (const s of subs) s.unsubscribe();
      await planner?.stop();
      await Promise.allSettled([...inFlight]);
    },
  };
}
