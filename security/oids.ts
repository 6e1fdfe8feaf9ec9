// Object identifiers pilot-wms writes into certificates.
//
// ATTRIBUTES_OID hangs under 1.3.6.1.4.1 (IANA private enterprises) at arc 58888, which is NOT a
// registered enterprise number of this project: it stands in for one until a deployment registers
// its own. Everything below it is ours: .4 = security, .4.1 = the signed VO-attribute extension
// (VO, groups, roles, signed by the CA like a VOMS attribute certificate).
export const ATTRIBUTES_OID = "1.3.6.1.4.1.58888.4.1";

/** RFC 3820 proxyCertInfo and the "inherit all" proxy policy language. */
export const PROXY_CERT_INFO_OID = "1.3.6.1.5.5.7.1.14";
export const PROXY_POLICY_INHERIT_ALL_OID = "1.3.6.1.5.5.7.21.1";
export const PROXY_POLICY_INDEPENDENT_OID = "1.3.6.1.5.5.7.21.2";

export const BASIC_CONSTRAINTS_OID = "2.5.29.19";
export const KEY_USAGE_OID = "2.5.29.15";
