// Keeps the last audit records in a Redis list (`<ns>:audit:site`) so an operator's
// `wms site authz check` can show recent decisions. The durable trail is RabbitMQ's audit queue;
// this list is a capped window onto it.
import type { RedisClient } from "../platform/redis-client.ts";
import { AuditRecord, type WireNames } from "../schemas/index.ts";
import type { AuditSink } from "./audit-record.ts";

export const AUDIT_LIST_MAX = 1000;

export function auditListKey(names: WireNames): string {
  return names.redisKey("audit", "site");
}

/** An AuditSink that pushes each record (newest first) and trims the list to `max`. */
export function redisAuditList(redis: RedisClient, names: WireNames, max = AUDIT_LIST_MAX): AuditSink {
  const key = auditListKey(names);
  return async (record) => {
    await redis.multi().lpush(key, JSON.stringify(record)).ltrim(key, 0, max - 1).exec();
  };
}

/** Newest first; entries that do not parse as AuditRecords are skipped. */
export async function recentAudit(redis: RedisClient, names: WireNames, count = 20, filter?: (r: AuditRecord) => boolean): Promise<AuditRecord[]> {
  const raw = await redis.lrange(auditListKey(names), 0, AUDIT_LIST_MAX - 1);
  const out: AuditRecord[] = [];
  for (const text of raw) {
    if (AuditRecord.problems(safeJson(text)) !== undefined) continue;
    const r = JSON.parse(text) as AuditRecord;
    if (!filter || filter(r)) out.push(r);
    if (out.length >= count) break;
  }
  return out;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Several sinks as one (e.g. the RabbitMQ publisher and the Redis window). */
export function fanOutAudit(...sinks: AuditSink[]): AuditSink {
  return async (r) => {
    for (const s of sinks) await s(r);
  };
}
