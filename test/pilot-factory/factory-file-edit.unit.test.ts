import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { editFactoryFile } from "../../pilot-factory/index.ts";
import { ERR } from "../../schemas/index.ts";

const FILE = `# Production factory: edit with care
factoryId: prod-1
queues:
  - name: siteA-local
    site: SITE_A
    adapter: local          # detached processes
    maxPending: 10          # live: submitted, not yet seen

    pilotsPerMinute: 60     # live: token-bucket rate
  # the condor queue is shared with another VO
  - name: siteB-condor
    site: SITE_B
    adapter: condor
    pilotsPerMinute: 20
`;

describe("writing the live state back into the factory file", () => {
  it("changes only the values' text: comments, their alignment, blank lines and order stay", () => {
    const out = editFactoryFile(FILE, "f.yaml", { "siteA-local": { maxPending: 4, pilotsPerMinute: 120 } });
    expect(out).toBe(FILE.replace("maxPending: 10          #", "maxPending: 4          #").replace("pilotsPerMinute: 60     #", "pilotsPerMinute: 120     #"));
  });

  it("adds knobs the file does not spell under their queue at its indentation, for every queue of the live state", () => {
    const out = editFactoryFile(FILE, "f.yaml", { "siteA-local": { targetIdle: 1 }, "siteB-condor": { maxRunning: 7, pilotsPerMinute: 5 } });
    expect(parseYaml(out)).toMatchObject({
      queues: [
        { name: "siteA-local", targetIdle: 1, maxPending: 10, pilotsPerMinute: 60 },
        { name: "siteB-condor", maxRunning: 7, pilotsPerMinute: 5 },
      ],
    });
    expect(out).toContain("    pilotsPerMinute: 60     # live: token-bucket rate\n    targetIdle: 1\n  # the condor queue");
    expect(out).toContain("# Production factory: edit with care");
    expect(out.endsWith("    pilotsPerMinute: 5\n    maxRunning: 7\n")).toBe(true);
  });

  it("keeps a JSON file JSON", () => {
    const json = JSON.stringify({ factoryId: "j", queues: [{ name: "q", site: "SITE_A" }] });
    expect(JSON.parse(editFactoryFile(json, "f.json", { q: { maxPending: 3 } }))).toEqual({ factoryId: "j", queues: [{ name: "q", site: "SITE_A", maxPending: 3 }] });
  });

  it("edits a factory file of 100,000 keys (the YAML library's duplicate-key check compared each key with every earlier one: 20,000 keys took 16 s) and still refuses a duplicate key with its line, in one line", () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `k${i}: ${i}`).join("\n");
    expect(() => editFactoryFile(FILE.replace("adapter: local ", "site: SITE_C\n    adapter: local "), "dup.yaml", {})).toThrow(/\(Map keys must be unique at line 6, column 5\)$/);
    const big = `${keys}\n${FILE}`;
    const out = editFactoryFile(big, "big.yaml", { "siteB-condor": { pilotsPerMinute: 5 } });
    expect(out).toBe(big.replace("    pilotsPerMinute: 20\n", "    pilotsPerMinute: 5\n"));
    // The first repeats siteA-local's site on line 6, the second factoryId at the top, the third a flow map's name.
    for (const text of [FILE.replace("adapter: local ", "site: SITE_C\n    adapter: local "), `factoryId: a\n${FILE}`, "queues:\n  - {name: siteA-local, site: SITE_A, name: x}\n"]) {
      let refused: unknown;
      try {
        editFactoryFile(text, "dup.yaml", { "siteA-local": { maxPending: 1 } });
      } catch (e) {
        refused = e;
      }
      expect(refused, text).toMatchObject({ code: ERR.BAD_CONFIG, message: expect.stringMatching(/: dup\.yaml: not valid YAML \(Map keys must be unique at line \d+, column \d+\)$/) });
    }
  });

  it("names a queue the file does not have", () => {
    expect(() => editFactoryFile(FILE, "f.yaml", { nope: { maxPending: 1 } })).toThrow(expect.objectContaining({ code: ERR.NOT_FOUND }));
  });
});
