import { describe, expect, it } from "vitest";
import {
  AccountingRecord,
  AuditRecord,
  ErrorReport,
  FactoryConfig,
  Heartbeat,
  JobSpec,
  MachineAdvert,
  MatchEnvelope,
  SiteConfig,
  StateReport,
  TaskBatch,
  WmsConfig,
  WmsError,
  ALL_MESSAGES,
  CodedErrorFields,
  ERR,
  type Message,
} from "../schemas/index.ts";
import { staleJsonSchemas } from "../schemas/json-schema-files.ts";
import type { TSchema } from "@sinclair/typebox";

const DN = "/DC=org/DC=pilot-wms/OU=People/CN=Jane Doe";
const now = 1_790_000_000_000;
const job = {
  schemaVersion: 1,
  jobId: "task1.000001",
  taskId: "task1",
  taskName: "mc.evgen",
  kind: "production",
  vo: "atlas",
  group: "prod",
  userDn: DN,
  priority: 100,
  site: "SITE_A",
  executable: "/bin/sh",
  arguments: ["-c", "wc -l *"],
  environment: { ATHENA_CORES: "1" },
  requirements: "TARGET.Memory >= 2000",
  rank: "TARGET.Cpus",
  cores: 1,
  memoryMb: 2000,
  walltimeSec: 3600,
  inputFiles: [{ lfn: "data/f1.txt", dataset: "ds1", size: 10, adler32: "0a1b2c3d", md5: "d41d8cd98f00b204e9800998ecf8427e" }],
  outputDataset: "out1",
  attempt: 1,
  maxAttempts: 3,
};

// One good and two bad examples per message; each bad example must be named in the error.
const cases: Array<{ msg: Message<TSchema>; good: unknown; bad: Array<[unknown, string]> }> = [
  {
    msg: MachineAdvert,
    good: { schemaVersion: 1, pilotId: "p1", site: "SITE_A", token: "x".repeat(32), classad: "[ Memory = 4096 ]", publicKey: "k".repeat(100), sentAt: now },
    bad: [
      [{ schemaVersion: 1, pilotId: "p1", site: "SITE_A", classad: "[]", publicKey: "k".repeat(100), sentAt: now }, "token"],
      [{ schemaVersion: 2, pilotId: "p1", site: "SITE_A", token: "x".repeat(32), classad: "[]", publicKey: "k".repeat(100), sentAt: now }, "schemaVersion"],
    ],
  },
  { msg: JobSpec, good: job, bad: [[{ ...job, cores: 0 }, "cores"], [{ ...job, userDn: "Jane" }, "userDn"]] },
  {
    msg: TaskBatch,
    good: { schemaVersion: 1, taskName: "t1", vo: "atlas", jobTemplate: { executable: "/bin/true" }, inputDatasets: ["ds1"], outputDataset: "o" },
    bad: [
      [{ schemaVersion: 1, taskName: "t1", vo: "atlas", jobTemplate: { executable: "/bin/true" }, inputDatasets: [], outputDataset: "o" }, "inputDatasets"],
      [{ schemaVersion: 1, taskName: "t 1", vo: "atlas", jobTemplate: { executable: "/bin/true" }, inputDatasets: ["d"], outputDataset: "o" }, "taskName"],
    ],
  },
  {
    msg: MatchEnvelope,
    good: { schemaVersion: 1, body: "{}", signature: "s".repeat(64), signerCert: "c".repeat(100) },
    bad: [
      [{ schemaVersion: 1, body: "{}", signature: "short", signerCert: "c".repeat(100) }, "signature"],
      [{ schemaVersion: 1, body: "{}", signature: "s".repeat(64), signerCert: "c".repeat(100), extra: 1 }, "extra"],
    ],
  },
  {
    msg: Heartbeat,
    good: { schemaVersion: 1, pilotId: "p1", jobId: "j1", attempt: 1, site: "S", lockToken: "l".repeat(16), state: "running", sentAt: now, mac: `k1.${"m".repeat(43)}` },
    bad: [
      [{ schemaVersion: 1, pilotId: "p1", jobId: "j1", attempt: 1, site: "S", lockToken: "l".repeat(16), state: "dancing", sentAt: now, mac: `k1.${"m".repeat(43)}` }, "state"],
      [{ schemaVersion: 1, pilotId: "p1", jobId: "j1", attempt: 1, site: "S", lockToken: "l".repeat(16), state: "running", sentAt: -5, mac: `k1.${"m".repeat(43)}` }, "sentAt"],
      [{ schemaVersion: 1, pilotId: "p1", jobId: "j1", attempt: 1, site: "S", lockToken: "l".repeat(16), state: "running", sentAt: now }, "mac"],
    ],
  },
  {
    msg: StateReport,
    good: { schemaVersion: 1, kind: "state", reportId: "r-12345678", jobId: "j1", taskId: "t1", pilotId: "p1", site: "S", state: "finished", attempt: 1, lockToken: "l".repeat(16), at: now },
    bad: [
      [{ schemaVersion: 1, kind: "state", reportId: "r-12345678", jobId: "j1", taskId: "t1", pilotId: "p1", site: "S", state: "done", attempt: 1, at: now }, "state"],
      [{ schemaVersion: 1, kind: "state", reportId: "r-12345678", jobId: "j1", taskId: "t1", pilotId: "p1", site: "S", state: "failed", attempt: 0, at: now }, "attempt"],
    ],
  },
  {
    msg: ErrorReport,
    good: { schemaVersion: 1, kind: "error", reportId: "r-12345678", jobId: "j1", pilotId: "p1", site: "S", code: 1201, name: "STAGEIN_FILE_MISSING", message: "f1 missing", at: now },
    bad: [
      [{ schemaVersion: 1, kind: "error", reportId: "r-12345678", pilotId: "p1", site: "S", code: 17, name: "X", message: "m", at: now }, "code"],
      [{ schemaVersion: 1, kind: "error", reportId: "r-12345678", pilotId: "p1", site: "S", name: "X", message: "m", at: now }, "code"],
    ],
  },
  {
    msg: AccountingRecord,
    good: { schemaVersion: 1, kind: "accounting", reportId: "r-12345678", jobId: "j1", taskId: "t1", pilotId: "p1", attempt: 1, lockToken: "l".repeat(16), userDn: DN, vo: "atlas", group: "", site: "S", wallSec: 1.5, userCpuSec: 1, sysCpuSec: 0.1, maxRssKb: 1000, exitCode: 0, startedAt: now, endedAt: now + 1500 },
    bad: [
      [{ schemaVersion: 1, kind: "accounting", reportId: "r-12345678", jobId: "j1", taskId: "t1", pilotId: "p1", attempt: 1, lockToken: "l".repeat(16), userDn: DN, vo: "atlas", group: "", site: "S", wallSec: -1, userCpuSec: 1, sysCpuSec: 0.1, maxRssKb: 1000, exitCode: 0, startedAt: now, endedAt: now }, "wallSec"],
      [{ schemaVersion: 1, kind: "accounting", reportId: "r-12345678", jobId: "j1", taskId: "t1", pilotId: "p1", attempt: 1, lockToken: "l".repeat(16), userDn: DN, vo: "atlas", group: "", site: "S", wallSec: 1, userCpuSec: 1, sysCpuSec: 0.1, maxRssKb: 1.5, exitCode: 0, startedAt: now, endedAt: now }, "maxRssKb"],
    ],
  },
  {
    msg: AuditRecord,
    good: { schemaVersion: 1, kind: "audit", reportId: "r-12345678", event: "identity-switch", dn: DN, localAccount: "pool001", pilotId: "p1", jobId: "j1", at: now },
    bad: [
      [{ schemaVersion: 1, kind: "audit", reportId: "r-12345678", event: "coffee", dn: DN, at: now }, "event"],
      [{ schemaVersion: 1, kind: "audit", reportId: "r-12345678", event: "identity-switch", at: now }, "dn"],
    ],
  },
  {
    msg: FactoryConfig,
    good: { schemaVersion: 1, factoryId: "f1", queues: [{ name: "q1", site: "SITE_A" }] },
    bad: [
      [{ schemaVersion: 1, factoryId: "f1", queues: [{ name: "q1", site: "SITE_A", maxPending: -1 }] }, "maxPending"],
      [{ schemaVersion: 1, factoryId: "f1", queues: [{ name: "q1", site: "SITE_A", adapter: "pbs" }] }, "adapter"],
    ],
  },
  {
    msg: SiteConfig,
    good: { schemaVersion: 1, sites: [{ name: "SITE_A", storagePath: "/srv/a" }] },
    bad: [
      [{ schemaVersion: 1, sites: [{ name: "SITE A", storagePath: "/srv/a" }] }, "name"],
      [{ schemaVersion: 1, sites: [{ name: "SITE_A", storagePath: "/srv/a", identitySwitch: "sometimes" }] }, "identitySwitch"],
    ],
  },
];

describe("message schemas", () => {
  for (const c of cases) {
    it(`${c.msg.name} accepts a good example`, () => {
      expect(c.msg.problems(structuredClone(c.good))).toBeUndefined();
    });
    it(`${c.msg.name} refuses two malformed examples with a message naming the field`, () => {
      for (const [bad, field] of c.bad) {
        let caught: unknown;
        try {
          c.msg.parse(structuredClone(bad));
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(WmsError);
        expect((caught as WmsError).code).toBe(1001);
        expect((caught as WmsError).message).toContain(field);
      }
    });
  }

  it("refuses text that is not JSON with code 1001", () => {
    expect(() => MachineAdvert.parseJson("{not json")).toThrow(/E?1001|not valid JSON/);
  });

  it("says a missing or unknown top-level field is the document's, in words a task author reads", () => {
    expect(TaskBatch.problems({ schemaVersion: 1, taskName: "t1", jobTemplate: { executable: "/bin/true" }, inputDatasets: ["d"], outputDataset: "o", bogus: 1 })).toMatch(
      /^the top level (is missing field 'vo'|has unknown field 'bogus')/,
    );
    expect(TaskBatch.problems({ schemaVersion: 1, taskName: "t1", vo: "atlas", jobTemplate: { executable: "/bin/true", cores: "two" }, inputDatasets: ["d"], outputDataset: "o" })).toBe(
      "field /jobTemplate/cores must be integer",
    );
  });

  it("names every allowed value of a field that takes one of a few words, once", () => {
    // A typo in wms.yaml's logLevel or a task's kind: the reader wants the list, not its first two entries.
    expect(WmsConfig.problems({ logLevel: "verbose" })).toBe('field /logLevel must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"');
    const base = { schemaVersion: 1, taskName: "t1", vo: "atlas", jobTemplate: { executable: "/bin/true" }, inputDatasets: ["d"], outputDataset: "o" };
    expect(TaskBatch.problems({ ...base, kind: "prod", inputRelease: "later" })).toBe('field /kind must be one of "production", "analysis"; field /inputRelease must be one of "files", "done"');
  });

  it("fills defaults a task author may leave out", () => {
    const batch = TaskBatch.parse({ schemaVersion: 1, taskName: "t1", vo: "atlas", jobTemplate: { executable: "/bin/true" }, inputDatasets: ["d"], outputDataset: "o" });
    expect(batch.maxAttempts).toBe(3);
    expect(batch.jobTemplate.cores).toBe(1);
    expect(batch.kind).toBe("production");
  });

  it("keeps the exported JSON Schema files current (run `npm run schemas` if this fails)", async () => {
    expect(await staleJsonSchemas()).toEqual([]);
  });

  it("answers a refusal alike on every reply: each error branch is the one coded-error fragment, and a WmsError passes it", () => {
    /** Every object schema in `schema` whose `status` is the literal "error". */
    const errorBranches = (schema: unknown, out: Array<Record<string, unknown>> = []): Array<Record<string, unknown>> => {
      if (Array.isArray(schema)) for (const s of schema) errorBranches(s, out);
      else if (schema !== null && typeof schema === "object") {
        const props = (schema as { properties?: Record<string, { const?: unknown }> }).properties;
        if (props?.status?.const === "error") out.push(props);
        for (const v of Object.values(schema)) errorBranches(v, out);
      }
      return out;
    };
    const fragment = JSON.parse(JSON.stringify(CodedErrorFields)) as Record<string, unknown>;
    const refusal = new WmsError(ERR.NOT_FOUND, "no such task");
    let replies = 0;
    for (const m of ALL_MESSAGES) {
      const branches = errorBranches(JSON.parse(JSON.stringify(m.schema)));
      for (const props of branches) {
        const { schemaVersion: _v, jobId: _j, ...rest } = props;
        expect(rest, m.name).toEqual(fragment);
      }
      if (branches.length > 0 && m.name.endsWith("Reply")) {
        replies++;
        expect(m.problems({ schemaVersion: 1, ...refusal.toReply() }), m.name).toBeUndefined();
      }
    }
    expect(replies).toBeGreaterThanOrEqual(7);
  });
});
