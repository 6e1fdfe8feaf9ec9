// Per-file RabbitMQ helpers: read a queue directly and delete the namespace's topology afterwards.
import amqp, { type ChannelModel, type GetMessage } from "amqplib";
import type { WireNames } from "../../../schemas/index.ts";
import { deleteTopology } from "../../../agents/reports/index.ts";

/** A confirm channel, so raw publishes made in `fn` are confirmed before the connection closes. */
export async function withChannel<T>(url: string, fn: (ch: amqp.Channel) => Promise<T>): Promise<T> {
  const conn: ChannelModel = await amqp.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    const out = await fn(ch);
    await ch.waitForConfirms();
    return out;
  } finally {
    await conn.close();
  }
}

/** Takes every message now in `queue` (acking them). */
export async function drainQueue(url: string, queue: string): Promise<GetMessage[]> {
  return withChannel(url, async (ch) => {
    const out: GetMessage[] = [];
    for (;;) {
      const m = await ch.get(queue, { noAck: true });
      if (m === false) return out;
      out.push(m);
    }
  });
}

export async function removeTopology(url: string, names: WireNames): Promise<void> {
  await withChannel(url, (ch) => deleteTopology(ch, names));
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
