import { MachineAdvert } from "../../schemas/index.ts";
import { opsPerSec, type BenchSuite } from "./suite.ts";

/** Validation sits on every advert; it must cost next to nothing next to JSON.parse. */
export const schemasSuite: BenchSuite = {
  key: "schemas",
  async run() {
    const advert = { schemaVersion: 1, pilotId: "p-1", site: "SITE_A", token: "t".repeat(43), classad: "[ Memory = 4096; Cpus = 8 ]", publicKey: "k".repeat(120), sentAt: Date.now() };
    const text = JSON.stringify(advert);
    const parseOnly = opsPerSec(() => JSON.parse(text));
    const parseAndValidate = opsPerSec(() => MachineAdvert.parseJson(text));
    return { advertJsonParsePerSec: Math.round(parseOnly), advertParseValidatePerSec: Math.round(parseAndValidate), validateOverheadRatio: Math.round((parseOnly / parseAndValidate) * 100) / 100 };
  },
};
