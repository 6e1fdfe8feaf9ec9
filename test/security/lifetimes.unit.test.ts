// Default lifetimes: service certificates at most a year (init and issue), users and pilots a
// year by default, user proxies a day.
import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { issueCertificate, readServiceCredentials, SERVICE_ROLES, type ServiceName } from "../../security/index.ts";
import { BITS, expectCode, usePki } from "./support/pki-fixture.ts";

const fixture = usePki();
const DAY_MS = 86_400_000;
const daysLeft = (pem: string): number => (new Date(new X509Certificate(pem).validTo).getTime() - Date.now()) / DAY_MS;

describe("certificate and proxy lifetimes", () => {
  it("gives the services' certificates made by 'wms pki init' at most a year", () => {
    for (const name of Object.keys(SERVICE_ROLES) as ServiceName[]) {
      const left = daysLeft(readServiceCredentials(fixture().dir, name).certPem);
      expect(left).toBeGreaterThan(364);
      expect(left).toBeLessThanOrEqual(365);
    }
  });

  it("issues service certificates for at most 365 days, users and pilots for a year by default", async () => {
    const dn = "/DC=org/DC=pilot-wms/OU=Services/CN=extra";
    const svc = issueCertificate({ caDir: fixture().dir, keyBits: BITS, kind: "service", dn, roles: ["intake"], days: 365 });
    expect(daysLeft(svc.certPem)).toBeLessThanOrEqual(365);
    const e = await expectCode(() => issueCertificate({ caDir: fixture().dir, keyBits: BITS, kind: "service", dn, days: 366 }), ERR.BAD_INPUT);
    expect(e.message).toContain("between 1 and 365 for a service certificate");
    const user = issueCertificate({ caDir: fixture().dir, keyBits: BITS, kind: "user", dn: "/DC=org/DC=pilot-wms/OU=People/CN=Default Days" });
    expect(Math.round(daysLeft(user.certPem))).toBe(365);
    // Users may still get longer certificates than services.
    expect(daysLeft(issueCertificate({ caDir: fixture().dir, keyBits: BITS, kind: "user", dn: "/DC=org/DC=pilot-wms/OU=People/CN=Long", days: 730 }).certPem)).toBeGreaterThan(729);
  });
});
