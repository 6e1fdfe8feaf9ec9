// The intake service: NATS request/reply on `intakeSubmit` and `intakeControl`, in the intake queue
// group so several instances share the requests (all state is in Redis). Every request gets a reply:
// the result, or an error with its registry code; bad input changes nothing.
import type { NatsConnection } from "nats";
import { serveRequests, type RequestReplyService } from "../platform/request-reply-service.ts";
import { ERR, WmsError } from "../schemas/index.ts";
import { controlTask } from "./intake-control.ts";
import { createIntakeContext, type IntakeDeps } from "./intake-context.ts";
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

const decoder = new TextDecoder();

function parseBody(data: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(data));
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
  const serve = (subject: string, handler: (body: unknown) => Promise<unknown>): RequestReplyService =>
    serveRequests(opts.nc, subject, { queue: opts.names.queueGroups.intake, decode: parseBody, handler, log: ctx.logger, what: "intake request" });
  const subs = [serve(opts.names.subjects.intakeSubmit, (b) => submitTask(ctx, b)), serve(opts.names.subjects.intakeControl, (b) => controlTask(ctx, b))];
  const pollMs = opts.openTaskPollMs ?? OPEN_TASK_POLL_MS;
  const planner = pollMs > 0 ? startOpenTaskPlanner(ctx, pollMs) : undefined;
  ctx.logger.info({ submit: opts.names.subjects.intakeSubmit, control: opts.names.subjects.intakeControl }, "intake serving");
  return {
    async stop() {
      await Promise.all([...subs.map((s) => s.stop()), planner?.stop()]);
    },
  };
}
