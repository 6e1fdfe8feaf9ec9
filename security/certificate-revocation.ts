// X.509 v2 certificate revocation lists (RFC 5280 s. 5), pure. node-forge reads and writes
// certificates and requests but has no CRL type, so the CRL is built and read here with forge's
// ASN.1 layer and signed like the certificates (certificate-builder.ts): TBS bytes by node:crypto.
// `openssl crl -CAfile ca.pem -in ca.crl.pem` verifies what this writes.
import { createPrivateKey, sign, verify, type KeyObject } from "node:crypto";
import forge from "node-forge";
import { ERR, WmsError } from "../schemas/index.ts";
import { formatDn } from "./dn.ts";
import { REVOCATION_REASONS, type RevocationReason } from "./revocation-reasons.ts";

export { REVOCATION_REASONS, isRevocationReason, type RevocationReason } from "./revocation-reasons.ts";

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

const SHA256_WITH_RSA = "1.2.840.113549.1.1.11";
const CRL_NUMBER_OID = "2.5.29.20";
const REASON_CODE_OID = "2.5.29.21";
const AUTHORITY_KEY_ID_OID = "2.5.29.35";

export interface RevokedEntry {
  /** Lower-case hex without leading zeros (see normalizeSerial). */
  readonly serialHex: string;
  readonly revokedAt: number;
  readonly reason: RevocationReason;
}

export interface RevocationList {
  readonly issuerDn: string;
  readonly crlNumber: number;
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  readonly entries: readonly RevokedEntry[];
}

/** Serial numbers compare as integers: `00:1A`, `0x1a` and `1A` are the same certificate. */
export function normalizeSerial(hex: string): string {
  const s = hex.trim().toLowerCase().replace(/^0x/, "").replace(/:/g, "");
  if (!/^[0-9a-f]{1,40}$/.test(s)) throw new WmsError(ERR.BAD_INPUT, `a serial number is 1 to 20 bytes of hex (as 'openssl x509 -noout -serial' prints it), got '${hex}'`);
  return s.replace(/^0+(?=.)/, "");
}

const seq = (parts: Asn1[]): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, parts);
const int = (bytes: string): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, bytes);
const oid = (id: string): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(id).getBytes());
const octets = (bytes: string): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bytes);

// RFC 5280 s. 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
function time(ms: number): Asn1 {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  return d.getUTCFullYear() < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

function readTime(a: Asn1 | undefined): number {
  if (a?.type === asn1.Type.UTCTIME) return asn1.utcTimeToDate(a.value as string).getTime();
  if (a?.type === asn1.Type.GENERALIZEDTIME) return asn1.generalizedTimeToDate(a.value as string).getTime();
  throw new Error("not a time");
}

/** DER INTEGER content for a non-negative hex number (a leading 00 keeps it positive). */
function hexToIntegerBytes(hex: string): string {
  const even = hex.length % 2 === 1 ? `0${hex}` : hex;
  const bytes = forge.util.hexToBytes(even);
  return bytes.charCodeAt(0) & 0x80 ? `\u0000${bytes}` : bytes;
}

function extension(id: string, value: Asn1): Asn1 {
  return seq([oid(id), octets(asn1.toDer(value).getBytes())]);
}

function algorithm(): Asn1 {
  return seq([oid(SHA256_WITH_RSA), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, "")]);
}

export interface BuildCrlInput {
  readonly caCertPem: string;
  readonly caKeyPem: string | KeyObject;
  readonly entries: readonly RevokedEntry[];
  readonly crlNumber: number;
  readonly thisUpdate: number;
  readonly nextUpdate: number;
}

/** A signed CRL in PEM (`-----BEGIN X509 CRL-----`). */
export function buildCrl(input: BuildCrlInput): string {
  const ca = forge.pki.certificateFromPem(input.caCertPem);
  const ski = (ca.getExtension("subjectKeyIdentifier") as { subjectKeyIdentifier?: string } | null)?.subjectKeyIdentifier;
  const revoked = input.entries.map((e) =>
    seq([
      int(hexToIntegerBytes(normalizeSerial(e.serialHex))),
      time(e.revokedAt),
      // s. 5.3.1: the reason code is omitted rather than written as unspecified.
      ...(e.reason === "unspecified"
        ? []
        : [seq([extension(REASON_CODE_OID, asn1.create(asn1.Class.UNIVERSAL, asn1.Type.ENUMERATED, false, String.fromCharCode(REVOCATION_REASONS[e.reason])))])]),
    ]),
  );
  const crlExtensions = [
    extension(CRL_NUMBER_OID, int(hexToIntegerBytes(input.crlNumber.toString(16)))),
    ...(ski !== undefined
      ? [extension(AUTHORITY_KEY_ID_OID, seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, forge.util.hexToBytes(ski))]))]
      : []),
  ];
  const tbs = seq([
    int("\u0001"), // v2
    algorithm(),
    forge.pki.distinguishedNameToAsn1(ca.subject),
    time(input.thisUpdate),
    time(input.nextUpdate),
    ...(revoked.length > 0 ? [seq(revoked)] : []),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [seq(crlExtensions)]),
  ]);
  const tbsDer = asn1.toDer(tbs).getBytes();
  const key = typeof input.caKeyPem === "string" ? createPrivateKey(input.caKeyPem) : input.caKeyPem;
  const signature = sign("sha256", Buffer.from(tbsDer, "binary"), key).toString("binary");
  const list = seq([tbs, algorithm(), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\u0000${signature}`)]);
  return forge.pem.encode({ type: "X509 CRL", body: asn1.toDer(list).getBytes() });
}

function readExtensions(list: Asn1 | undefined): Map<string, Asn1> {
  const out = new Map<string, Asn1>();
  for (const ext of (list?.value as Asn1[] | undefined) ?? []) {
    const parts = ext.value as Asn1[];
    const id = asn1.derToOid(parts[0]?.value as string);
    const valueOctets = parts[parts.length - 1]?.value as string;
    out.set(id, asn1.fromDer(valueOctets));
  }
  return out;
}

const reasonByCode = new Map<number, RevocationReason>(Object.entries(REVOCATION_REASONS).map(([k, v]) => [v, k as RevocationReason]));

/**
 * forge's fromDer by default tries to parse every BIT STRING's contents as ASN.1 and, when that
 * succeeds, replaces its value with the parsed elements: a signature whose random bytes happen to
 * read as DER (about one in a few hundred) then had no string value, and a valid CRL was refused
 * as not signed by the CA (a revoked operator stayed trusted). Signatures are opaque bytes here.
 */
const fromDerKeepingBitStrings = asn1.fromDer as unknown as (der: string, options: { strict?: boolean; decodeBitStrings?: boolean }) => Asn1;

/**
 * Reads a CRL and checks its signature with `caPublicKey`. Throws BAD_INPUT when it does not parse
 * and SEC_BAD_SIGNATURE when the key did not sign it.
 */
export function readCrl(pem: string, caPublicKey: KeyObject): RevocationList {
  let outer: Asn1[];
  let tbsDer: string;
  let tbsParts: Asn1[];
  try {
    const msg = forge.pem.decode(pem).find((m) => m.type === "X509 CRL");
    if (msg === undefined) throw new Error("no X509 CRL block");
    outer = fromDerKeepingBitStrings(msg.body, { decodeBitStrings: false }).value as Asn1[];
    const tbs = outer[0] as Asn1;
    tbsDer = asn1.toDer(tbs).getBytes();
    tbsParts = tbs.value as Asn1[];
  } catch (e) {
    throw new WmsError(ERR.BAD_INPUT, `the CRL does not parse (${(e as Error).message})`);
  }
  const sigBits = outer[2]?.value;
  if (typeof sigBits !== "string" || !verify("sha256", Buffer.from(tbsDer, "binary"), caPublicKey, Buffer.from(sigBits.slice(1), "binary"))) {
    throw new WmsError(ERR.SEC_BAD_SIGNATURE, "the CRL is not signed by the CA's key");
  }
  try {
    // version, signature, issuer, thisUpdate, [nextUpdate], [revokedCertificates], [0] extensions
    let i = tbsParts[0]?.type === asn1.Type.INTEGER ? 1 : 0;
    i++; // signature algorithm
    const issuerDn = formatDn((forge.pki as unknown as { RDNAttributesAsArray(a: Asn1): forge.pki.CertificateField[] }).RDNAttributesAsArray(tbsParts[i++] as Asn1));
    const thisUpdate = readTime(tbsParts[i++]);
    let nextUpdate: number | undefined;
    const maybeNext = tbsParts[i];
    if (maybeNext?.type === asn1.Type.UTCTIME || maybeNext?.type === asn1.Type.GENERALIZEDTIME) {
      nextUpdate = readTime(maybeNext);
      i++;
    }
    const entries: RevokedEntry[] = [];
    const maybeList = tbsParts[i];
    if (maybeList !== undefined && maybeList.tagClass === asn1.Class.UNIVERSAL && maybeList.type === asn1.Type.SEQUENCE) {
      for (const entry of maybeList.value as Asn1[]) {
        const [serial, date, exts] = entry.value as Asn1[];
        const code = readExtensions(exts).get(REASON_CODE_OID)?.value;
        entries.push({
          serialHex: normalizeSerial(forge.util.bytesToHex(serial?.value as string) || "0"),
          revokedAt: readTime(date),
          reason: (typeof code === "string" ? reasonByCode.get(code.charCodeAt(0)) : undefined) ?? "unspecified",
        });
      }
      i++;
    }
    const crlExts = tbsParts[i]?.tagClass === asn1.Class.CONTEXT_SPECIFIC ? readExtensions((tbsParts[i]?.value as Asn1[])[0]) : new Map<string, Asn1>();
    const num = crlExts.get(CRL_NUMBER_OID)?.value;
    const crlNumber = typeof num === "string" ? parseInt(forge.util.bytesToHex(num) || "0", 16) : 0;
    return { issuerDn, crlNumber, thisUpdate, nextUpdate, entries };
  } catch (e) {
    throw new WmsError(ERR.BAD_INPUT, `the CRL does not parse (${(e as Error).message})`);
  }
}
