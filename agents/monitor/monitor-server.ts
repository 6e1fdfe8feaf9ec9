// `wms monitor`: the read-only web dashboard, its JSON API and Prometheus metrics, on loopback by default.
import { maxHeaderSize, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from "fastify";
import type { RedisClient } from "../../platform/redis-client.ts";
import { toWmsError, ERR, WmsError, type WireNames } from "../../schemas/index.ts";
import { JOB_STATES, type JobState } from "../../jobs/index.ts";
import { MonitorData, type MonitorProviders } from "./monitor-data.ts";
import { History, HISTORY_RANGES, type HistoryRange } from "./history.ts";
import { createMonitorRegistry, metricsText } from "./monitor-metrics.ts";
import { dashboardPage, jobPage, taskPage } from "./dashboard-page.ts";
import { httpStatusFor } from "./http-status.ts";

export interface MonitorOptions {
  redis: RedisClient;
  names: WireNames;
  host?: string;
  port?: number;
  providers?: MonitorProviders;
  sampleEveryMs?: number;
  /** The samples behind the "over time" chart (default: a new, empty History). */
  history?: History;
}

export interface RunningMonitor {
  readonly url: string;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

const USAGE_KINDS = ["user", "group", "vo", "site"] as const;
type UsageKind = (typeof USAGE_KINDS)[number];

/** Fastify's limit on one path parameter (a task, job or site id), its default named. */
const MAX_PARAM_LENGTH = 100;

/** Every refusal the monitor makes has this one shape. */
function errorBody(e: WmsError): { error: { code: number; name: string; message: string } } {
  return { error: { code: e.code, name: e.name, message: e.message } };
}

function sendError(reply: FastifyReply, e: WmsError, status = httpStatusFor(e.code)): void {
  void reply.status(status).send(errorBody(e));
}

/**
 * What Fastify refuses before any route runs: a path parameter over its limit (414) or a URL whose
 * percent-encoding does not decode. Its default answer has its own shape and no code of ours.
 */
function frameworkError(err: FastifyError, reply: FastifyReply): void {
  if (err.code === "FST_ERR_MAX_PARAM_LENGTH") {
    sendError(reply, new WmsError(ERR.BAD_INPUT, `a path segment is longer than ${MAX_PARAM_LENGTH} characters: no task, job or site id is`), 414);
  } else if (err.code === "FST_ERR_BAD_URL") {
    sendError(reply, new WmsError(ERR.BAD_INPUT, "the path is not a valid URL (a % not followed by a UTF-8 character's encoding)"));
  } else {
    sendError(reply, toWmsError(err));
  }
}

/**
 * What Node's HTTP parser refuses before Fastify has a request (a request line and headers over
 * Node's limit, a request that did not arrive in time, bytes that are not HTTP) reaches only the
 * socket; Fastify's default answer there has its own shape and no code of ours.
 */
function clientError(err: Error & { code?: string }, socket: Duplex): void {
  // A reset connection has no one left to answer.
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, e] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, new WmsError(ERR.BAD_INPUT, `the request line and headers are larger than the ${Math.floor(maxHeaderSize / 1024)} KB the monitor reads; shorten the URL`)]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, new WmsError(ERR.TIMEOUT, "the request did not arrive in time")]
        : [400, new WmsError(ERR.BAD_INPUT, `the request is not valid HTTP (${err.code ?? err.message})`)];
  const body = JSON.stringify(errorBody(e));
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
  socket.destroy();
}

export async function startMonitor(opts: MonitorOptions): Promise<RunningMonitor> {
  const data = new MonitorData(opts.redis, opts.names, opts.providers);
  const history = opts.history ?? new History();
  const registry = createMonitorRegistry(data);
  const app = Fastify({
    logger: false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: (err, _req, reply) => frameworkError(err, reply),
    clientErrorHandler: clientError,
  });

  const sample = async (): Promise<void> => {
    const [states, errors] = await Promise.all([data.totals(), data.errors()]);
    history.add({ at: Date.now(), states, errors: Object.fromEntries(errors.map((e) => [String(e.code), e.count])) });
  };
  await sample().catch(() => undefined);
  const timer = setInterval(() => void sample().catch(() => undefined), opts.sampleEveryMs ?? 5000);

  app.setErrorHandler((err, _req, reply) => sendError(reply, toWmsError(err)));
  // Every route is a GET, so no request body is ever read. Fastify's parsers would read one for
  // any method (a POST to a 404 or 405 path included) and answer an empty, malformed or over-1 MB
  // JSON body with errors of their own, which reached the handler above as E1000 INTERNAL, 500.
  // A catch-all parser that leaves the stream alone: Node discards what the client sent.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_req, _payload, done) => done(null, undefined));

  // What GET /api lists: every endpoint registered with a summary, so the index cannot drift from the routes.
  const endpoints: Array<{ method: string; path: string; summary: string }> = [];
  app.addHook("onRoute", (route) => {
    const summary = (route.config as { summary?: unknown } | undefined)?.summary;
    if (typeof summary === "string" && route.method === "GET") endpoints.push({ method: "GET", path: route.url, summary });
  });
  // An unknown path answers like every other refusal, and one under /api says where the index is.
  // A path that is served, asked with another method (a POST, a DELETE, a WebDAV verb), is not
  // "not found": RFC 9110 s. 15.5.6 answers 405 with an Allow header listing the methods it takes.
  // Every route is a GET (HEAD comes with it), so looking the concrete path up as a GET says which.
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split("?")[0] ?? "";
    if (req.method !== "GET" && req.method !== "HEAD" && app.findRoute({ method: "GET", url: path }) !== null) {
      void reply.header("allow", "GET, HEAD");
      sendError(reply, new WmsError(ERR.METHOD_NOT_ALLOWED, `${req.method} ${path}: the monitor is read-only; this path answers GET and HEAD`));
      return;
    }
    const hint = req.url.startsWith("/api") ? "; GET /api lists the endpoints" : "";
    sendError(reply, new WmsError(ERR.NOT_FOUND, `no such page: ${req.method} ${req.url.split("?")[0]}${hint}`));
  });

  app.get("/", async (_req, reply) => reply.type("text/html; charset=utf-8").send(dashboardPage()));
  app.get<{ Params: { id: string } }>("/task/:id", async (req, reply) => reply.type("text/html; charset=utf-8").send(taskPage(req.params.id)));
  app.get<{ Params: { id: string } }>("/job/:id", async (req, reply) => reply.type("text/html; charset=utf-8").send(jobPage(req.params.id)));
  app.get("/healthz", { config: { summary: "{ ok: true } while the monitor serves" } }, async () => ({ ok: true }));
  app.get("/api/tasks", { config: { summary: "newest tasks: id, name, owner, priority, status, job counts by state, errors by code" } }, async () => data.tasks());
  app.get<{ Params: { id: string } }>("/api/tasks/:id", { config: { summary: "one task, as in /api/tasks" } }, async (req) => {
    const t = await data.task(req.params.id);
    if (!t) throw new WmsError(ERR.NOT_FOUND, `no task '${req.params.id}'`);
    return t;
  });
  app.get<{ Params: { id: string }; Querystring: { state?: string; offset?: string; limit?: string } }>("/api/tasks/:id/jobs", { config: { summary: "the task's jobs (?state=&offset=&limit=): state, site, attempt, pilot, error code and message" } }, async (req) => {
    const { state, offset, limit } = req.query;
    if (state !== undefined && !JOB_STATES.includes(state as JobState)) throw new WmsError(ERR.BAD_INPUT, `state must be one of ${JOB_STATES.join(", ")}`);
    const off = offset === undefined ? 0 : Number(offset);
    const lim = limit === undefined ? 500 : Number(limit);
    if (!Number.isInteger(off) || off < 0 || !Number.isInteger(lim) || lim < 1 || lim > 10000) throw new WmsError(ERR.BAD_INPUT, "offset must be >= 0 and limit 1..10000");
    if (!(await data.task(req.params.id))) throw new WmsError(ERR.NOT_FOUND, `no task '${req.params.id}'`);
    return data.taskJobs(req.params.id, { state: state as JobState | undefined, offset: off, limit: lim });
  });
  app.get<{ Params: { id: string } }>("/api/jobs/:id", { config: { summary: "one job and its attempts, with links to their logs" } }, async (req) => {
    const j = await data.job(req.params.id);
    if (!j) throw new WmsError(ERR.NOT_FOUND, `no job '${req.params.id}'`);
    return j;
  });
  app.get<{ Params: { id: string }; Querystring: { attempt?: string } }>("/api/jobs/:id/log", { config: { summary: "an attempt's logs as text (?attempt=N)" } }, async (req, reply) => {
    const attempt = Number(req.query.attempt);
    if (!Number.isInteger(attempt) || attempt < 1) throw new WmsError(ERR.BAD_INPUT, "attempt must be a whole number from 1");
    const text = await data.jobLogText(req.params.id, attempt);
    if (text === undefined) throw new WmsError(ERR.NOT_FOUND, `no logs for job '${req.params.id}' attempt ${attempt}`);
    return reply.type("text/plain; charset=utf-8").send(text);
  });
  app.get("/api/sites", { config: { summary: "per site: jobs by state, pilots by state, empty-pilot ratio, files held" } }, async () => data.sites());
  app.get("/api/pilots", { config: { summary: "pilot census: site, state, count" } }, async () => data.pilots());
  app.get("/api/factory", { config: { summary: "per factory queue: pilots by state, activated jobs, rate against target, circuit breaker" } }, async () => data.factory());
  app.get("/api/errors", { config: { summary: "failed jobs by error code" } }, async () => data.errors());
  app.get<{ Querystring: { by?: string } }>("/api/accounting", { config: { summary: "usage (?by=user|group|vo|site): jobs, wall and CPU seconds, max RSS" } }, async (req) => {
    const by = (req.query.by ?? "user") as UsageKind;
    if (!USAGE_KINDS.includes(by)) throw new WmsError(ERR.BAD_INPUT, `by must be one of ${USAGE_KINDS.join(", ")}`);
    return data.usage(by);
  });
  app.get<{ Querystring: { range?: string } }>("/api/history", { config: { summary: "jobs by state over time (?range=hour|day|week)" } }, async (req) => {
    const range = req.query.range ?? "hour";
    if (!Object.hasOwn(HISTORY_RANGES, range)) throw new WmsError(ERR.BAD_INPUT, `range must be one of ${Object.keys(HISTORY_RANGES).join(", ")}`);
    return history.series(range as HistoryRange);
  });
  app.get("/api", { config: { summary: "this list" } }, async () => ({ endpoints }));
  app.get("/metrics", { config: { summary: "Prometheus text format" } }, async (_req, reply) => {
    const m = await metricsText(registry);
    return reply.type(m.contentType).send(m.body);
  });

  const address = await app.listen({ host: opts.host ?? "127.0.0.1", port: opts.port ?? 8080 });
  return {
    url: address,
    app,
    async close() {
      clearInterval(timer);
      await app.close();
    },
  };
}
