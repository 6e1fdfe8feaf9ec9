// serveRequests, the one request/reply loop of the pool-lease service, the credential cache, the
// intake and factory control, on the real NATS: the intake's subject as the intake role, asked by
// the operator's `wms`.
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveRequests } from "../../platform/request-reply-service.ts";
import { ERR, WmsError } from "../../schemas/index.ts";
import { openNatsAs } from "../support/live-services.ts";
import { testConfig } from "../support/namespace.ts";

const loaded = testConfig("reqreply");
const subject = loaded.names.subjects.intakeSubmit;
let server: NatsConnection;
let client: NatsConnection;

beforeAll(async () => {
  server = await openNatsAs(loaded, "intake", "request-reply-service-test");
  client = await openNatsAs(loaded, "operator", "request-reply-service-test-client");
});

afterAll(async () => {
  await client?.close();
  await server?.close();
});

const enc = new TextEncoder();
const dec = new TextDecoder();

function decodeNumber(data: Uint8Array): number {
  const v: unknown = JSON.parse(dec.decode(data));
  if (typeof v !== "number") throw new WmsError(ERR.BAD_INPUT, "a number, please");
  return v;
}

async function ask(body: string): Promise<Record<string, unknown>> {
  const m = await client.request(subject, enc.encode(body), { timeout: 10_000 });
  return JSON.parse(dec.decode(m.data)) as Record<string, unknown>;
}

describe("serveRequests", () => {
  it("answers bad input and a handler's failure each with one coded line, never a stack trace", async () => {
    const s = serveRequests(server, subject, {
      decode: decodeNumber,
      what: "test request",
      handler: async (n: number) => {
        if (n < 0) throw new Error("negative\n    at handler (request-reply-service.test.ts:1:1)");
        if (n === 0) throw new WmsError(ERR.NOT_FOUND, "nothing at 0");
        return { status: "ok", twice: n * 2 };
      },
    });
    await server.flush();
    try {
      expect(await ask("21")).toEqual({ status: "ok", twice: 42 });
      expect(await ask('"x"')).toMatchObject({ schemaVersion: 1, status: "error", code: ERR.BAD_INPUT, message: expect.stringContaining("a number, please") });
      expect(await ask("{not json")).toMatchObject({ status: "error", code: ERR.BAD_INPUT });
      expect(await ask("0")).toMatchObject({ status: "error", code: ERR.NOT_FOUND, name: "NOT_FOUND", message: expect.stringContaining("nothing at 0") });
      const internal = await ask("-1");
      expect(internal).toMatchObject({ status: "error", code: ERR.INTERNAL });
      expect(String(internal.message)).not.toMatch(/\n|at handler/);
    } finally {
      await s.stop();
    }
  });

  it("stop() waits until a request taken before it has been answered", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let started: () => void = () => undefined;
    const taken = new Promise<void>((r) => (started = r));
    const s = serveRequests(server, subject, {
      decode: decodeNumber,
      what: "test request",
      handler: async (n: number) => {
        started();
        await gate;
        return { status: "ok", n };
      },
    });
    await server.flush();
    const answer = ask("7");
    await taken;
    let stopped = false;
    const stopping = s.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(await answer).toEqual({ status: "ok", n: 7 });
  });

  it("sequential: answers one request at a time, in the order they came", async () => {
    const order: string[] = [];
    let running = 0;
    let overlapped = false;
    const s = serveRequests(server, subject, {
      decode: decodeNumber,
      what: "test request",
      sequential: true,
      handler: async (n: number) => {
        overlapped ||= running > 0;
        running++;
        order.push(`start ${n}`);
        // The first waits longest: concurrent answers would finish out of order.
        await new Promise((r) => setTimeout(r, 60 - n * 10));
        order.push(`end ${n}`);
        running--;
        return { status: "ok", n };
      },
    });
    await server.flush();
    try {
      const replies = await Promise.all([1, 2, 3].map((n) => ask(String(n))));
      expect(replies.map((r) => r.n)).toEqual([1, 2, 3]);
      expect(overlapped).toBe(false);
      expect(order).toEqual(["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
    } finally {
      await s.stop();
    }
  });

  it("shareRepeats: a copy of a request in flight gets its reply; past `max` requests, a copy is handled anew", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const handled: number[] = [];
    const s = serveRequests(server, subject, {
      decode: decodeNumber,
      what: "test request",
      shareRepeats: { max: 2 },
      handler: async (n: number) => {
        const call = handled.push(n);
        await gate;
        return { status: "ok", n, call };
      },
    });
    await server.flush();
    const waitHandled = async (count: number): Promise<void> => {
      for (let i = 0; handled.length < count; i++) {
        if (i > 400) throw new Error(`${handled.length} requests handled, waiting for ${count}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    try {
      // Two remembered (max), the third not.
      const firsts = [ask("1"), ask("2"), ask("3")];
      await waitHandled(3);
      // One connection's messages reach the subscription in order: once the copy of 3 was handled,
      // the copies of 1 and 2 sent before it were taken too.
      const copies = [ask("1"), ask("2"), ask("3")];
      await waitHandled(4);
      release();
      const replies = await Promise.all([...firsts, ...copies]);
      expect(handled).toEqual([1, 2, 3, 3]);
      expect(replies.map((r) => [r.n, r.call])).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
        [1, 1],
        [2, 2],
        [3, 4],
      ]);
      // Once answered, a request is forgotten: the same bytes are handled again.
      expect(await ask("1")).toMatchObject({ n: 1, call: 5 });
    } finally {
      await s.stop();
    }
  });
});
