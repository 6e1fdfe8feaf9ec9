import { describe, expect, it } from "vitest";
import { ERR, type AuthzPlugin } from "../../schemas/index.ts";
import { authorize, parseGridmap, mapRole, wrapperScript } from "../../site-authz/index.ts";
import { CA, OTHER_CA, identity, siteWith } from "./support/site-fixture.ts";

const chain = (...authz: AuthzPlugin[]) => siteWith({ authz });

describe("authorization chain (LCAS role)", () => {
  // Behind a proxy the verified identity's `dn` is still Mallory's end-entity DN (chain verification
  // resolves RFC 3820 proxies); test/security/attack-identity.test.ts checks that with real proxies.
  it("refuses a banned DN with AUTHZ_BANNED", () => {
    const site = chain({ type: "ban-list", dns: ["/DC=org/DC=pilot-wms/CN=Mallory"], cas: [] });
    const d = authorize(site, identity("Mallory"));
    expect(d).toMatchObject({ allowed: false, code: ERR.AUTHZ_BANNED, plugin: "ban-list" });
    expect(authorize(site, identity("Alice")).allowed).toBe(true);
  });

  it("refuses every DN of a banned CA", () => {
    const site = chain({ type: "ban-list", dns: [], cas: [OTHER_CA] });
    expect(authorize(site, identity("Eve", { caDn: OTHER_CA })).code).toBe(ERR.AUTHZ_BANNED);
    expect(authorize(site, identity("Eve")).allowed).toBe(true);
  });

  it("refuses a DN from a CA that is not allowed, admits one from an allowed CA or by DN", () => {
    const site = chain({ type: "allow-list", dns: ["/DC=org/DC=elsewhere/CN=Guest"], cas: [CA] });
    expect(authorize(site, identity("Alice")).allowed).toBe(true);
    const d = authorize(site, identity("Eve", { caDn: OTHER_CA }));
    expect(d).toMatchObject({ allowed: false, code: ERR.AUTHZ_NOT_ALLOWED, plugin: "allow-list" });
    expect(authorize(site, { ...identity("x", { caDn: OTHER_CA }), dn: "/DC=org/DC=elsewhere/CN=Guest" }).allowed).toBe(true);
  });

  it("checks VO, group and role from the signed attributes", () => {
    const site = chain({ type: "vo", vos: ["atlas"], groups: ["/atlas/prod"], roles: ["production"] });
    expect(authorize(site, identity("P", { groups: ["/atlas", "/atlas/prod"], roles: ["/atlas/prod/Role=production/Capability=NULL"] })).allowed).toBe(true);
    expect(authorize(site, identity("P", { vo: "cms", groups: ["/atlas/prod"], roles: ["production"] })).code).toBe(ERR.AUTHZ_VO_REFUSED);
    expect(authorize(site, identity("P", { groups: ["/atlas"], roles: ["production"] })).code).toBe(ERR.AUTHZ_VO_REFUSED);
    expect(authorize(site, identity("P", { groups: ["/atlas/prod"], roles: ["/atlas/Role=pilot"] })).code).toBe(ERR.AUTHZ_VO_REFUSED);
    const { vo: _vo, ...noVo } = identity("P");
    expect(authorize(site, noVo).code).toBe(ERR.AUTHZ_VO_REFUSED);
  });

  it("limits walltime per VO, with '*' for the rest", () => {
    const site = chain({ type: "walltime", limits: { atlas: 3600, "*": 600 } });
    expect(authorize(site, identity("A"), { walltimeSec: 3600 }).allowed).toBe(true);
    expect(authorize(site, identity("A"), { walltimeSec: 3601 })).toMatchObject({ allowed: false, code: ERR.AUTHZ_WALLTIME_LIMIT });
    expect(authorize(site, identity("C", { vo: "cms" }), { walltimeSec: 601 }).code).toBe(ERR.AUTHZ_WALLTIME_LIMIT);
    expect(authorize(site, identity("C", { vo: "cms" })).allowed).toBe(true);
  });

  it("is the AND of every plug-in and explains each one", () => {
    const site = chain(
      { type: "allow-list", dns: [], cas: [CA] },
      { type: "ban-list", dns: ["/DC=org/DC=pilot-wms/CN=Mallory"], cas: [] },
      { type: "vo", vos: ["atlas"] },
      { type: "walltime", limits: { atlas: 100 } },
    );
    const ok = authorize(site, identity("Alice"), { walltimeSec: 50 });
    expect(ok.allowed).toBe(true);
    expect(ok.trail.map((s) => s.allowed)).toEqual([true, true, true, true]);
    // Allowed by three, refused by one: refused.
    const late = authorize(site, identity("Alice"), { walltimeSec: 500 });
    expect(late).toMatchObject({ allowed: false, plugin: "walltime", code: ERR.AUTHZ_WALLTIME_LIMIT });
    expect(late.trail.map((s) => s.allowed)).toEqual([true, true, true, false]);
    const both = authorize(site, identity("Mallory", { vo: "cms" }), { walltimeSec: 50 });
    expect(both.plugin).toBe("ban-list");
    expect(both.trail.filter((s) => !s.allowed).map((s) => s.plugin)).toEqual(["ban-list", "vo"]);
  });

  it("admits everyone at a site with no plug-ins", () => {
    expect(authorize(siteWith({}), identity("Anyone", { caDn: OTHER_CA })).allowed).toBe(true);
  });
});

describe("mapping pieces", () => {
  it("parses a grid-mapfile with quoted DNs, comments and account lists", () => {
    const m = parseGridmap(['# site map', '"/DC=org/CN=Jane Doe" janed', "", '/DC=org/CN=Bob bob,bob2  # trailing', '"/DC=org/CN=Proxy User/CN=123" pu'].join("\n"));
    expect(m.get("/DC=org/CN=Jane Doe")).toEqual(["janed"]);
    expect(m.get("/DC=org/CN=Bob")).toEqual(["bob", "bob2"]);
    // A DN is looked up exactly: a numeric last CN does not make it someone else's proxy.
    expect(m.get("/DC=org/CN=Proxy User/CN=123")).toEqual(["pu"]);
    expect(m.get("/DC=org/CN=Proxy User")).toBeUndefined();
  });

  it.each([
    ['"/DC=org/CN=Jane janed', /closing quote/],
    ['"/DC=org/CN=Jane"', /no account/],
    ['"CN=Jane" janed', /slash form/],
    ['"/DC=org/CN=Jane" Jane!', /valid local account/],
    ['"/DC=org/CN=Jane" .atlas', /pool prefix/],
    ['"/DC=org/CN=Jane" a b', /comma-separated/],
    ['"/DC=org/CN=J" a\n"/DC=org/CN=J" b', /listed twice/],
  ])("refuses the malformed line %j with its line number", (text, re) => {
    expect(() => parseGridmap(text, "gm")).toThrow(re);
    expect(() => parseGridmap(text, "gm")).toThrow(/gm:\d+/);
  });

  it("maps a VO role, plain or as an FQAN, to its group account", () => {
    expect(mapRole({ pilot: "pilotacct" }, identity("P", { roles: ["/atlas/Role=pilot/Capability=NULL"] }))).toEqual({ role: "pilot", account: "pilotacct" });
    expect(mapRole({ pilot: "pilotacct" }, identity("P", { roles: ["pilot"] }))?.account).toBe("pilotacct");
    expect(mapRole({ pilot: "pilotacct" }, identity("P", { roles: ["/atlas/Role=production"] }))).toBeUndefined();
  });

  it("quotes every value in the wrapper so the shell cannot reinterpret it", () => {
    const text = wrapperScript({ env: { A: "it's $(id) `x`", LD_LIBRARY_PATH: "/opt/l b" }, workdir: "/w", jobId: "j1" });
    expect(text).toContain(`export A='it'\\''s $(id) \`x\`'`);
    expect(text).toContain("export LD_LIBRARY_PATH='/opt/l b'");
    expect(() => wrapperScript({ env: { "A;rm": "x" }, workdir: "/w", jobId: "j" })).toThrow(/not a shell name/);
  });
});
