// `wms monitor`: the read-only web dashboard, its JSON API and Prometheus metrics, on loopback by default.
import Fastify, { type FastifyInstance } from "fastify";
import type { RedisClient } from "../../platform/redis-client.ts";
import { toWmsError, ERR, WmsError, type WireNames } from "../../schemas/index.ts";
import { JOB_STATES, type JobState } from "../../jobs/index.ts";
import { MonitorData, type MonitorProviders } from "./monitor-data.ts";
import { History, HISTORY_RANGES, type HistoryRange } from "./history.ts";
import { createMonitorRegistry, metricsText } from "./monitor-metrics.ts";
import { dashboardPage, jobPage, taskPage } from "./dashboard-page.ts";

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

export async function startMonitor(opts: MonitorOptions): Promise<RunningMonitor> {
  const data = new MonitorData(opts.redis, opts.names, opts.providers);
  const history = opts.history ?? new History();
  const registry = createMonitorRegistry(data);
  const app = Fastify({ logger: false });

  const sample = async (): Promise<void> => {
    const [states, errors] = await Promise.all([data.totals(), data.errors()]);
    history.add({ at: Date.now(), states, errors: Object.fromEntries(errors.map((e) => [String(e.code), e.count])) });
  };
  await sample().catch(() => undefined);
  const timer = setInterval(() => void sample().catch(() => undefined), opts.sampleEveryMs ?? 5000);

  app.setErrorHandler((err, _req, reply) => {
    const e = toWmsError(err);
    const status = e.code === ERR.NOT_FOUND ? 404 : e.code === ERR.INTERNAL || e.code === ERR.FILE_SYSTEM_REFUSED ? 500 : e.code === ERR.SERVICE_UNAVAILABLE ? 503 : 400;
    void reply.status(status).send({ error: { code: e.code, name: e.name, message: e.message } });
  });

  // What GET /api lists: every endpoint registered with a summary, so the index cannot drift from the routes.
  const endpoints: Array<{ method: string; path: string; summary: string }> = [];
  app.addHook("onRoute", (route) => {
    const summary = (route.config as { summary?: unknown } | undefined)?.summary;
    if (typeof summary === "string" && route.method === "GET") endpoints.push({ method: "GET", path: route.url, summary });
  });
  // An unknown path answers like every other refusal, and one under /api says where the index is.
  app.setNotFoundHandler((req, reply) => {
    const hint = req.url.startsWith("/api") ? "; GET /api lists the endpoints" : "";
    void reply.status(404).send({ error: { code: ERR.NOT_FOUND, name: "NOT_FOUND", message: `no such page: ${req.method} ${req.url.split("?")[0]}${hint}` } });
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
