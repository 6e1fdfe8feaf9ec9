// The build compiles every message's validator ahead of time (scripts/build-validators.mjs) so a
// pilot or CLI call does not pay Ajv's compile on start. These check that what the compiled program
// loads answers exactly as a validator compiled from today's schema: same verdict, same errors,
// same defaults filled in.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { definedMessages, messageAjv, schemaDigest } from "../schemas/message.ts";
import "../schemas/index.ts";
import "../pilot-factory/knob-changes.ts";

const require = createRequire(import.meta.url);
const DIR = fileURLToPath(new URL("../dist/schemas/validators/", import.meta.url));

interface Precompiled {
  validate: ((v: unknown) => boolean) & { errors?: unknown };
  schemaDigest: string;
}

/** Inputs every validator must judge alike: wrong types, missing and unknown fields, a near-valid record. */
const PROBES: readonly unknown[] = [null, 7, "x", [], {}, { schemaVersion: 1 }, { schemaVersion: 2, extra: true }, { schemaVersion: 1, kind: "state", jobId: 5 }];

describe("ahead-of-time validators", () => {
  const messages = [...definedMessages()];

  it("exist in dist/ for every message, built from the current schema", () => {
    expect(messages.length).toBeGreaterThan(30);
    for (const [name, schema] of messages) {
      const file = `${DIR}${name}.cjs`;
      expect(existsSync(file), `${name}.cjs`).toBe(true);
      expect((require(file) as Precompiled).schemaDigest, name).toBe(schemaDigest(schema));
    }
  });

  it("give the same verdict, errors and defaults as a validator compiled at run time", () => {
    for (const [name, schema] of messages) {
      const pre = (require(`${DIR}${name}.cjs`) as Precompiled).validate;
      const live = messageAjv().compile(schema);
      for (const probe of PROBES) {
        const a = structuredClone(probe);
        const b = structuredClone(probe);
        expect(pre(a), `${name} ${JSON.stringify(probe)}`).toBe(live(b));
        expect(pre.errors ?? null).toEqual(live.errors ?? null);
        expect(a).toEqual(b);
      }
    }
  });

  it("are not used for a schema that changed since the build: the compiled program validates against the schema it has", async () => {
    const built = (await import(new URL("../dist/schemas/message.js", import.meta.url).href)) as typeof import("../schemas/message.ts");
    const { Type } = await import("@sinclair/typebox");
    // Same name as a precompiled message, another schema: the digest differs, so it compiles its own.
    const changed = built.defineMessage("MachineAdvert", Type.Object({ only: Type.String() }, { additionalProperties: false }));
    expect(changed.problems({ only: "x" })).toBeUndefined();
    expect(changed.problems({ schemaVersion: 1 })).toMatch(/only|schemaVersion/);
  });
});
