// VO membership, groups and roles, carried the way VOMS carries them: a small attribute
// "certificate" inside an extension (ATTRIBUTES_OID), signed by the CA with its own validity and
// bound to its holder's DN and serial. A proxy copies it forward unchanged; since the proxy is
// signed by the user, only the CA's signature inside the blob makes the roles believable.
import { createPrivateKey, sign, verify, type KeyObject } from "node:crypto";
import forge from "node-forge";
import { ERR, WmsError } from "../schemas/index.ts";

export type CertificateKind = "user" | "pilot" | "service" | "ca";

export interface VoAttributes {
  readonly holderDn: string;
  readonly holderSerial: string;
  readonly issuerDn: string;
  readonly kind: CertificateKind;
  readonly vo: string;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
  /** Epoch ms. */
  readonly notBefore: number;
  readonly notAfter: number;
}

const { asn1 } = forge;

/** DER of SEQUENCE { UTF8String attributesJson, OCTET STRING signature }, as a binary string for forge. */
export function encodeAttributeExtension(attrs: VoAttributes, signerKey: string | KeyObject): string {
  const json = JSON.stringify({ v: 1, ...attrs });
  const key = typeof signerKey === "string" ? createPrivateKey(signerKey) : signerKey;
  const signature = sign("sha256", Buffer.from(json, "utf8"), key);
  const seq = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTF8, false, forge.util.encodeUtf8(json)),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, signature.toString("binary")),
  ]);
  return asn1.toDer(seq).getBytes();
}

function bad(detail: string): WmsError {
  return new WmsError(ERR.SEC_BAD_ATTRIBUTES, detail);
}

function decode(der: string): { json: string; signature: Buffer; attrs: VoAttributes } {
  let json: string;
  let signature: Buffer;
  try {
    const seq = asn1.fromDer(der);
    const parts = seq.value as forge.asn1.Asn1[];
    json = forge.util.decodeUtf8(parts[0]?.value as string);
    signature = Buffer.from(parts[1]?.value as string, "binary");
  } catch {
    throw bad("the attribute extension is not DER we wrote");
  }
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw bad("the attribute extension does not hold JSON");
  }
  const o = raw as Record<string, unknown>;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");
  if (
    typeof o !== "object" || o === null || o.v !== 1 ||
    typeof o.holderDn !== "string" || typeof o.holderSerial !== "string" || typeof o.issuerDn !== "string" ||
    typeof o.vo !== "string" || !strings(o.groups) || !strings(o.roles) ||
    typeof o.notBefore !== "number" || typeof o.notAfter !== "number" ||
    !["user", "pilot", "service", "ca"].includes(String(o.kind))
  ) {
    throw bad("the attribute extension lacks fields");
  }
  return { json, signature, attrs: o as unknown as VoAttributes };
}

/**
 * Checks the blob as VOMS attributes are checked: signed by a CA we trust (by its DN), inside its
 * own validity, and held by the end-entity certificate it was issued for.
 */
export function verifyAttributeExtension(
  der: string,
  ctx: { readonly caKeys: ReadonlyMap<string, KeyObject>; readonly holderDn: string; readonly holderSerial: string; readonly at: number },
): VoAttributes {
  const { json, signature, attrs } = decode(der);
  const caKey = ctx.caKeys.get(attrs.issuerDn);
  if (caKey === undefined || !verify("sha256", Buffer.from(json, "utf8"), caKey, signature)) {
    throw bad(`the attributes of ${ctx.holderDn} are not signed by a trusted CA`);
  }
  if (ctx.at < attrs.notBefore || ctx.at > attrs.notAfter) throw bad(`the attributes of ${ctx.holderDn} are outside their validity`);
  if (attrs.holderDn !== ctx.holderDn || attrs.holderSerial.toLowerCase() !== ctx.holderSerial.toLowerCase()) {
    throw bad(`the attributes were issued to ${attrs.holderDn}, not to ${ctx.holderDn}`);
  }
  return attrs;
}
