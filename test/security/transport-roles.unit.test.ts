// The NATS permissions `wms secrets init` writes for the partitioned advert and heartbeat subjects.
import { describe, expect, it } from "vitest";
import { wireNames } from "../../schemas/index.ts";
import { natsPermissions, redisAcl } from "../../security/index.ts";
import { natsAuthorizationBlock, redisAclLine } from "../../security/transport-secrets.ts";

describe("NATS permissions for per-site subjects", () => {
  const names = wireNames("wms");

  it("lets pilots publish adverts and heartbeats on any one site's subject (and the base one of older pilots), nothing deeper", () => {
    const p = natsPermissions("pilot", names);
    expect(p?.publish).toEqual(expect.arrayContaining(["wms.match.advert", "wms.match.advert.*", "wms.match.heartbeat", "wms.match.heartbeat.*"]));
    expect(p?.publish.some((x) => x.endsWith(".>"))).toBe(false);
    expect(p?.subscribe.some((x) => x.startsWith("wms.match."))).toBe(false);
  });

  it("lets matchmakers subscribe to every site's subjects, publish nothing", () => {
    const p = natsPermissions("matchmaker", names);
    expect(p?.subscribe).toEqual(expect.arrayContaining(["wms.match.advert.*", "wms.match.heartbeat.*"]));
    expect(p?.publish).toEqual([]);
  });

  it("writes them into the server's authorization block", () => {
    const block = natsAuthorizationBlock([{ role: "pilot", nkey: "UPILOT" }], names);
    expect(block).toContain('"wms.match.heartbeat.*"');
    expect(block).not.toContain("wms.match.heartbeat.>");
  });
});

describe("Redis ACL of the operator's wms", () => {
  const names = wireNames("wms");

  it("may spend a factory control's nonce with SET alone (wms factory set with no factory running), never delete one", () => {
    const acl = redisAcl("operator", names);
    expect(acl?.keys).not.toContain("wms:sec:nonce:*");
    expect(acl?.selectors).toEqual([{ keys: ["wms:sec:nonce:*"], commands: ["+set"] }]);
    expect(redisAclLine("operator", names, "pw")).toMatch(/ \(~wms:sec:nonce:\* \+set\)$/);
  });

  it("gives the services no selector: they write the namespace's keys already", () => {
    for (const role of ["intake", "matchmaker", "agents", "credentials", "factory"] as const) expect(redisAcl(role, names)?.selectors).toBeUndefined();
  });
});
