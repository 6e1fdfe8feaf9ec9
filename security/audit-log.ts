// Security events (a one-time key presented twice, a DN mismatch, a refused retriever) go to a
// capped Redis stream, so the monitor and an operator can read who tried what, when. The stores
// write their entries from inside their Lua scripts, in the same atomic step as the refusal.
import type { Redis } from "ioredis";
import type { WireNames } from "../schemas/index.ts";

export const AUDIT_MAXLEN = 10_000;

export interface AuditEntry {
  readonly id: string;
  readonly event: string;
  readonly at: number;
  readonly fields: Readonly<Record<string, string>>;
}

export function auditStreamKey(names: WireNames): string {
  return names.redisKey("sec", "audit");
}

export class AuditLog {
  constructor(
    private readonly redis: Redis,
    private readonly names: WireNames,
  ) {}

  async write(event: string, fields: Readonly<Record<string, string>>): Promise<void> {
    const flat = Object.entries(fields).flat();
    await this.redis.xadd(auditStreamKey(this.names), "MAXLEN", "~", String(AUDIT_MAXLEN), "*", "event", event, "at", String(Date.now()), ...flat);
  }

  /** Newest first. */
  async recent(count = 100): Promise<AuditEntry[]> {
    const rows = await this.redis.xrevrange(auditStreamKey(this.names), "+", "-", "COUNT", count);
    return rows.map(([id, kv]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < kv.length; i += 2) fields[kv[i] as string] = kv[i + 1] as string;
      const { event = "", at = "0", ...rest } = fields;
      return { id, event, at: Number(at), fields: rest };
    });
  }
}
