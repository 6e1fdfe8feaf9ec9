// Distinguished names in OpenSSL slash form (`/DC=org/DC=pilot-wms/CN=Jane Doe`), the form
// MyProxy and the grid middleware use for user names, retrieval policies and audit records, converted to and from X.509 names.
import { ERR, WmsError } from "../schemas/index.ts";

const OID_BY_LABEL: Readonly<Record<string, string>> = {
  DC: "0.9.2342.19200300.100.1.25",
  UID: "0.9.2342.19200300.100.1.1",
  C: "2.5.4.6",
  ST: "2.5.4.8",
  L: "2.5.4.7",
  O: "2.5.4.10",
  OU: "2.5.4.11",
  CN: "2.5.4.3",
  emailAddress: "1.2.840.113549.1.9.1",
};
const LABEL_BY_OID = new Map(Object.entries(OID_BY_LABEL).map(([label, oid]) => [oid, label]));

// ASN.1 string tags: DC and emailAddress are IA5String by their RFCs, the rest UTF8String.
const IA5 = 22;
const UTF8 = 12;

export interface NameAttribute {
  readonly type: string;
  readonly value: string;
  readonly valueTagClass: number;
}

export function parseDn(dn: string): NameAttribute[] {
  if (!dn.startsWith("/") || dn.length < 3) throw new WmsError(ERR.BAD_INPUT, `DN '${dn}' must be in slash form, e.g. /DC=org/DC=pilot-wms/CN=Jane Doe`);
  return dn
    .slice(1)
    .split("/")
    .map((part) => {
      const eq = part.indexOf("=");
      const label = eq > 0 ? part.slice(0, eq) : "";
      const value = part.slice(eq + 1);
      const type = OID_BY_LABEL[label];
      if (type === undefined || value === "") {
        throw new WmsError(ERR.BAD_INPUT, `DN '${dn}': '${part}' is not LABEL=value with LABEL one of ${Object.keys(OID_BY_LABEL).join(", ")}`);
      }
      return { type, value, valueTagClass: label === "DC" || label === "emailAddress" ? IA5 : UTF8 };
    });
}

/** From the attributes node-forge reads out of a certificate. Unknown types keep their OID. */
export function formatDn(attributes: ReadonlyArray<{ type?: string; value?: unknown; valueTagClass?: unknown }>): string {
  // node-forge hands UTF8String values back as raw bytes in a binary string.
  const text = (a: { value?: unknown; valueTagClass?: unknown }): string =>
    a.valueTagClass === UTF8 ? Buffer.from(String(a.value), "binary").toString("utf8") : String(a.value);
  return attributes.map((a) => `/${LABEL_BY_OID.get(a.type ?? "") ?? a.type}=${text(a)}`).join("");
}
