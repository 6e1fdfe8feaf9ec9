import { ERR, errorEntry, type ErrorCode } from "./error-codes.ts";
import type { ErrorReply } from "./messages/common.ts";

/**
 * The one error class callers meet: the registry code tells what went wrong and what to do.
 * `detail` is the situation-specific part ("field /priority must be >= 0").
 */
export class WmsError extends Error {
  readonly code: ErrorCode;
  readonly detail: string;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    const entry = errorEntry(code);
    const base = entry?.message ?? "Unknown error";
    super(detail ? `${base}: ${detail}` : base, options);
    this.name = entry?.name ?? "WmsError";
    this.code = code;
    this.detail = detail ?? "";
  }

  /**
   * Rebuilds an error that crossed a wire as `{code, message}` (a reply, a report). Its message
   * already starts with the registry text; the constructor would add it again
   * ("The payload produced no output file: The payload produced no output file: ...").
   */
  static fromReply(r: { readonly code: number; readonly message: string }): WmsError {
    const base = errorEntry(r.code)?.message;
    const detail = base !== undefined && r.message.startsWith(base) ? r.message.slice(base.length).replace(/^: /, "") : r.message;
    return new WmsError(r.code as ErrorCode, detail || undefined);
  }

  /** `E1001 BAD_INPUT: The input does not match its schema: ...` — the one-line form for CLIs and logs. */
  toLine(): string {
    return `E${this.code} ${this.name}: ${this.message}`;
  }

  /** What crosses a wire (schemas/messages/common.ts, CodedErrorFields), less the message's schemaVersion. */
  toReply(): Omit<ErrorReply, "schemaVersion"> {
    return { status: "error", code: this.code, name: this.name, message: this.message };
  }
}

export function isWmsError(e: unknown): e is WmsError {
  return e instanceof WmsError;
}

// Errors a store or broker client throws while its server is away: ioredis ("Connection is closed.",
// its MaxRetriesPerRequestError, a stream that is not writeable), nats.js (CONNECTION_CLOSED,
// DISCONNECT, TIMEOUT, 503 no responders), amqplib (a closed channel or connection), and the
// socket errors under all of them. Matched by name, code and text, so this file imports no client.
const OUTAGE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENOTCONN", "CONNECTION_CLOSED", "CONNECTION_DRAINING", "DISCONNECT", "TIMEOUT", "503"]);
const OUTAGE_TEXT = /^(Connection is closed|Stream isn't writeable|Reached the max retries per request limit|Channel closed|Connection closed|Channel ended|Failed to refresh slots cache|Cluster isn't ready|Cluster is ended)/i;

/**
 * Refusals by which a Redis server says it does not serve a command now and did not run it, though
 * it (or another node) will in a moment: a Redis Cluster moving a slot or failing over (MOVED, ASK,
 * TRYAGAIN, CLUSTERDOWN), a master demoted to a replica while a client still writes to it
 * (READONLY), a replica that lost its master (MASTERDOWN), a server still loading its data after a
 * restart (LOADING). ioredis's Cluster client, its redirections used up, wraps the last one:
 * "Too many Cluster redirections. Last error: ReplyError: MOVED 9543 127.0.0.1:7001". A MOVED or
 * ASK met by a single-server client never gets better (it was pointed at a cluster node): that
 * client rejects it as E1002 itself (platform/single-server-redis.ts), before it reaches here.
 */
export const REDIS_REFUSALS = ["MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "MASTERDOWN", "LOADING"] as const;
export type RedisRefusal = (typeof REDIS_REFUSALS)[number];
const REDIS_REFUSAL = new RegExp(`^(?:Too many Cluster redirections\\. Last error: (?:\\w*Error: )?)?(${REDIS_REFUSALS.join("|")}) `);
/** ioredis's Cluster client gave up a command after its redirections: the cluster kept refusing or closing it. */
const TOO_MANY_REDIRECTIONS = /^Too many Cluster redirections\. /;

/** Which of REDIS_REFUSALS `e` is, also as the last error of a command ioredis gave up on; else undefined. */
export function redisRefusal(e: unknown): RedisRefusal | undefined {
  if (!(e instanceof Error)) return undefined;
  return REDIS_REFUSAL.exec(e.message)?.[1] as RedisRefusal | undefined;
}

// A server that answered and refused an operation this identity may not do (least privilege per
// role): Redis's ACL (NOPERM), NATS's subject permissions (nats.js PERMISSIONS_VIOLATION), a
// RabbitMQ channel closed with 403. Not an outage: trying again changes nothing.
const PERMISSION_TEXT = /^NOPERM |Permissions Violation|^Channel closed by server: 403 \(ACCESS[-_]REFUSED\)/i;

/** True when `e` says a server refused an operation to this identity (its role's permissions). */
export function isPermissionRefusal(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  return (e as { code?: unknown }).code === "PERMISSIONS_VIOLATION" || PERMISSION_TEXT.test(e.message);
}

/**
 * True when `e` says a server (Redis, NATS, RabbitMQ) did not answer, or a Redis node refused to
 * serve the command for now (a failover under way, REDIS_REFUSALS), not that the request was wrong.
 */
export function isOutage(e: unknown): boolean {
  if (!(e instanceof Error) || isPermissionRefusal(e)) return false;
  const code = (e as { code?: unknown }).code;
  return (
    e.name === "MaxRetriesPerRequestError" ||
    (typeof code === "string" && OUTAGE_CODES.has(code)) ||
    OUTAGE_TEXT.test(e.message) ||
    redisRefusal(e) !== undefined ||
    TOO_MANY_REDIRECTIONS.test(e.message)
  );
}

/**
 * Any failure as a registry error: a WmsError as it is; a server that is away as SERVICE_UNAVAILABLE
 * (retryable: a job whose pilot met a Redis restart is retried, and says why, rather than
 * INTERNAL); a refused permission as SERVICE_PERMISSION_DENIED; a port problem with its own code;
 * anything else INTERNAL, first line only.
 */
/** errno codes by which the file system refuses a path, as Node's fs errors carry them. */
const FS_REFUSALS: ReadonlySet<string> = new Set(["ENOENT", "ENOTDIR", "EISDIR", "EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "ENAMETOOLONG", "ELOOP"]);

export function toWmsError(e: unknown): WmsError {
  if (isWmsError(e)) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  const firstLine = err.message.split("\n")[0] || err.name;
  const sys = err as Error & { code?: string; syscall?: string; address?: string; port?: number; path?: string };
  // A package the code imports is not in node_modules: the checkout changed (a pull that added a
  // dependency) since 'npm ci'. Not an internal error "in the service log": the user's to fix.
  const missing = sys.code === "ERR_MODULE_NOT_FOUND" ? /^Cannot find package '([^']+)'/.exec(err.message) : null;
  if (missing) return new WmsError(ERR.INSTALL_INCOMPLETE, `package '${missing[1]}' is not installed (package.json asks for it): run 'npm ci' in the pilot-wms folder`, { cause: e });
  if (sys.code === "EADDRINUSE") return new WmsError(ERR.PORT_IN_USE, `${sys.address ?? "the address"}:${sys.port ?? "?"} (${sys.syscall ?? "listen"})`);
  if (sys.code === "EACCES" && sys.syscall === "listen") return new WmsError(ERR.BAD_PORT, `not allowed to listen on ${sys.address ?? ""}:${sys.port ?? "?"} (ports below 1024 need privileges)`);
  // A path the file system refused (a keyring under /proc, a read-only or full disk): the user's to
  // fix, named with the operation, not an internal error with a temporary file's name. Retryable:
  // on a job's node it is that node's disk, which another node may not share.
  if (sys.path !== undefined && sys.syscall !== undefined && FS_REFUSALS.has(sys.code ?? "")) return new WmsError(ERR.FILE_SYSTEM_REFUSED, `${sys.syscall} ${sys.path}: ${sys.code}`, { cause: e });
  // A MULTI that Redis discarded (EXECABORT): ioredis keeps the queued commands' refusals, and the
  // first of them is the cause (a NOPERM, say), not the transaction.
  const queued = (err as { previousErrors?: unknown }).previousErrors;
  if (/^EXECABORT /.test(err.message) && Array.isArray(queued) && queued[0] instanceof Error) return toWmsError(queued[0]);
  if (isPermissionRefusal(err)) return new WmsError(ERR.SERVICE_PERMISSION_DENIED, firstLine, { cause: e });
  // ioredis's own words name its option ('Reached the max retries per request limit (which is 3).
  // Refer to "maxRetriesPerRequest" option for details.'); the user needs to hear that Redis went away.
  if (err.name === "MaxRetriesPerRequestError") return new WmsError(ERR.SERVICE_UNAVAILABLE, "Redis stopped answering (the connection was lost and the command given up after its retries)", { cause: e });
  if (isOutage(err)) return new WmsError(ERR.SERVICE_UNAVAILABLE, firstLine, { cause: e });
  return new WmsError(ERR.INTERNAL, firstLine, { cause: e });
}
