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

  it("names a queue the file does not have", () => {
    expect(() => editFactoryFile(FILE, "f.yaml", { nope: { maxPending: 1 } })).toThrow(expect.objectContaining({ code: ERR.NOT_FOUND }));
  });
});
