// RFC 5280 s. 5.3.1 CRLReason codes, by the names `openssl ca -crl_reason` uses. Data only (no
// node-forge), so `wms pki revoke --help` can list them without loading the PKI code.
// 7 is unused in the RFC, and removeFromCRL (8) belongs to delta CRLs, which are not made here.
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export function isRevocationReason(s: string): s is RevocationReason {
  return Object.prototype.hasOwnProperty.call(REVOCATION_REASONS, s);
}
