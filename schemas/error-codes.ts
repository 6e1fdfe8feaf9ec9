// The one table of error codes. Everyone imports it; nobody invents a number in place.
// Ranges (PanDA style: the number tells where a failure happened):
//   1000-1099 general (input, config, services)    1500-1599 matchmaker
//   1100-1199 pilot                                1600-1699 intake and brokerage
//   1200-1299 stage-in                             1700-1799 security (PKI, envelopes, tokens, keys)
//   1300-1399 stage-out                            1800-1899 site authorization and identity switch
//   1400-1499 payload                              1900-1999 reports and agents
//   2100-2400 credential cache (MyProxy's failure conditions, as the pilot reports them)

export type ErrorCategory =
  | "general"
  | "pilot"
  | "stage-in"
  | "stage-out"
  | "payload"
  | "matchmaker"
  | "intake"
  | "security"
  | "site-authz"
  | "reports"
  | "credentials";

export interface ErrorCodeEntry {
  readonly code: number;
  readonly name: string;
  readonly category: ErrorCategory;
  /** A retryable failure sends the job back to a queue (until max attempts); others fail it at once. */
  readonly retryable: boolean;
  readonly message: string;
}

const table = [
  // general
  [1000, "INTERNAL", "general", true, "Internal error; see the service log"],
  [1001, "BAD_INPUT", "general", false, "The input does not match its schema"],
  [1002, "BAD_CONFIG", "general", false, "The configuration file is invalid"],
  [1003, "SERVICE_UNAVAILABLE", "general", true, "A required service (NATS, Redis or RabbitMQ) does not answer"],
  [1004, "NOT_IMPLEMENTED", "general", false, "This command is not built yet"],
  [1005, "NOT_FOUND", "general", false, "The requested object does not exist"],
  [1006, "TIMEOUT", "general", true, "The request timed out"],
  [1007, "FILE_UNREADABLE", "general", false, "A file named on the command line cannot be read"],
  [1008, "USAGE", "general", false, "The command line is not valid"],
  [1009, "BAD_PORT", "general", false, "The port must be an integer from 0 to 65535 (0: any free port)"],
  [1010, "PORT_IN_USE", "general", false, "The address and port are already in use; pick another port or stop what listens there"],
  [1011, "UNKNOWN_CATEGORY", "general", false, "No such error category; run 'wms errors' for the table and its categories"],
  [1012, "SERVICE_AUTH_FAILED", "general", false, "A service (NATS, Redis or RabbitMQ) answers but refuses our credentials; check the identity in the configuration"],
  [1013, "SERVICE_PERMISSION_DENIED", "general", false, "A service refused an operation this identity is not permitted (least privilege per role)"],
  [1014, "DEPLOYMENT_ALREADY_UP", "general", false, "wms up already runs for this deployment folder"],
  [1015, "FOLDER_UNCREATABLE", "general", false, "A folder named on the command line cannot be made (the file system refuses it)"],
  [1016, "FILE_SYSTEM_REFUSED", "general", true, "The file system refused to write or open a path (missing folder, no permission, read-only or full)"],
  [1017, "INSTALL_INCOMPLETE", "general", false, "A package the code imports is not in node_modules (the checkout changed since 'npm ci'); run 'npm ci' in the pilot-wms folder"],
  [1018, "METHOD_NOT_ALLOWED", "general", false, "The path exists but does not take this HTTP method; the Allow header names the ones it takes (the monitor is read-only: GET and HEAD)"],
  // pilot
  [1100, "PILOT_PROBE_FAILED", "pilot", true, "The pilot could not probe its worker node"],
  [1101, "PILOT_NO_WALLTIME", "pilot", false, "Not enough walltime left for another job"],
  [1102, "PILOT_ENVELOPE_REJECTED", "pilot", true, "The pilot refused the match envelope (signature, expiry, pilot id or nonce)"],
  [1103, "PILOT_WORKDIR_FAILED", "pilot", true, "The pilot could not prepare the job's working directory"],
  [1104, "PILOT_LOST_HEARTBEAT", "pilot", true, "The pilot stopped heartbeating; the job was requeued"],
  [1105, "PILOT_KILLED", "pilot", true, "The pilot was killed while the job ran"],
  [1106, "PILOT_CLEANUP_FAILED", "pilot", false, "The pilot could not delete the job's credentials or restore permissions"],
  [1107, "PILOT_PREEMPTED", "pilot", true, "The batch system preempted the pilot (SIGTERM or the slot's walltime); the job is requeued without spending a retry"],
  [1108, "PILOT_CLOCK_OFF", "pilot", false, "The worker node's clock is more than 5 minutes off the matchmaker's, so the pilot cannot check its envelopes' freshness: it ran nothing and exits (the job keeps its attempt); set the node's time (NTP)"],
  // pilot factory (1150-1159)
  [1150, "FACTORY_SUBMIT_TOOL_MISSING", "pilot", false, "The batch system's submit command is not installed here; install it or use the local adapter"],
  [1151, "FACTORY_SUBMIT_FAILED", "pilot", true, "Submitting pilots to the batch system failed; see the factory log"],
  [1152, "FACTORY_ALREADY_RUNNING", "pilot", false, "A factory with this id already runs in this namespace; stop it or give this one another factoryId"],
  [1153, "FACTORY_BREAKER_OPEN", "pilot", true, "The queue's submissions kept failing or its pilots went missing; the factory backs off and retries one pilot when the back-off ends: fix the batch system or the queue"],
  [1154, "FACTORY_UNKNOWN_SITE", "pilot", false, "A factory queue names a site the site configuration does not have; fix the queue's site or add the site"],
  [1155, "FACTORY_PILOT_MISSED", "pilot", true, "Pilots were submitted but never heard from: the batch system lost them or they died at start; see the pilots' logs"],
  // stage-in
  [1200, "STAGEIN_FAILED", "stage-in", true, "Stage-in of an input file failed"],
  [1201, "STAGEIN_FILE_MISSING", "stage-in", true, "An input file is not in the site's storage"],
  [1202, "STAGEIN_SIZE_MISMATCH", "stage-in", true, "An input file's size differs from the catalog"],
  [1203, "STAGEIN_CHECKSUM_MISMATCH", "stage-in", true, "An input file's checksum differs from the catalog"],
  // stage-out
  [1300, "STAGEOUT_FAILED", "stage-out", true, "Stage-out of an output file failed"],
  [1301, "STAGEOUT_NO_OUTPUT", "stage-out", false, "The payload produced no output file"],
  [1302, "STAGEOUT_CHECKSUM_MISMATCH", "stage-out", true, "An output file's checksum changed during stage-out"],
  // payload
  [1400, "PAYLOAD_FAILED", "payload", false, "The payload exited with a non-zero code"],
  [1401, "PAYLOAD_WALLTIME_EXCEEDED", "payload", false, "The payload exceeded its walltime and was killed"],
  [1402, "PAYLOAD_MEMORY_EXCEEDED", "payload", false, "The payload exceeded its memory limit and was killed"],
  [1403, "PAYLOAD_SIGNALLED", "payload", true, "The payload was killed by a signal"],
  [1404, "PAYLOAD_START_FAILED", "payload", true, "The payload could not be started"],
  [1405, "PAYLOAD_CANCELLED", "payload", false, "The job was cancelled while it ran"],
  // matchmaker
  [1500, "MATCH_NO_JOB", "matchmaker", false, "No waiting job matches this pilot; back off and ask again"],
  [1501, "MATCH_TOKEN_REJECTED", "matchmaker", false, "The pilot token is unknown, spent, expired or for another site"],
  [1502, "MATCH_BAD_MACHINE_AD", "matchmaker", false, "The machine ClassAd does not parse"],
  [1503, "MATCH_CLAIM_FAILED", "matchmaker", true, "The job could not be claimed; another matchmaker took it"],
  [1504, "MATCH_LOCK_LOST", "matchmaker", true, "The job's lock was lost (heartbeat too late or wrong lock token)"],
  [1505, "MATCH_SITE_REFUSED", "matchmaker", false, "The site's authorization refused the job's owner"],
  [1506, "MATCH_BUDGET_EXCEEDED", "matchmaker", false, "Matching the machine ClassAd took more than its evaluation budget (time or steps); simplify its expressions (slow regular expressions, deep references)"],
  [1510, "CLASSAD_PARSE", "matchmaker", false, "The ClassAd expression or ad does not parse; fix the text at the line and column given"],
  // intake
  [1600, "INTAKE_NO_REPLICA", "intake", false, "No online site holds all input files of the job"],
  [1601, "INTAKE_UNKNOWN_DATASET", "intake", false, "An input dataset is not in the replica catalog"],
  [1602, "INTAKE_QUOTA_EXCEEDED", "intake", false, "The user or group is over its quota"],
  [1603, "INTAKE_ROLE_REFUSED", "intake", false, "The submitter lacks the role this task needs (production tasks need the production role)"],
  [1604, "INTAKE_NOT_OWNER", "intake", false, "Only the task's owner or the production role may do this"],
  [1605, "INTAKE_BAD_CLASSAD", "intake", false, "The job's Requirements or Rank do not parse"],
  [1606, "INTAKE_TASK_FINAL", "intake", false, "The task is already final"],
  [1607, "INTAKE_DUPLICATE_TASK", "intake", false, "The owner already has a task of this name; rename it or submit with --allow-duplicate"],
  [1608, "INTAKE_DATASET_NOT_READY", "intake", false, "The input dataset is the output of a task that is not done yet; submit again when it is"],
  [1609, "INTAKE_INPUT_NOT_PRODUCED", "intake", false, "The task's input dataset is the output of a task that ended without writing any file of it; nothing to run"],
  // security
  [1700, "SEC_UNTRUSTED_CA", "security", false, "The certificate was not issued by a trusted CA"],
  [1701, "SEC_CERT_EXPIRED", "security", false, "A certificate in the chain is expired or not yet valid"],
  [1702, "SEC_BAD_SIGNATURE", "security", false, "A signature does not verify"],
  [1703, "SEC_BAD_PROXY", "security", false, "The proxy certificate breaks RFC 3820 path rules"],
  [1704, "SEC_BAD_ATTRIBUTES", "security", false, "The VO attributes are missing, expired or not signed by our CA"],
  [1705, "SEC_ENVELOPE_EXPIRED", "security", false, "The match envelope has expired"],
  [1706, "SEC_NONCE_REPLAYED", "security", false, "The nonce of this envelope or signed request was seen before (replay); sign a new request"],
  [1707, "SEC_WRONG_PILOT", "security", false, "The envelope is addressed to another pilot"],
  [1708, "SEC_TOKEN_SPENT", "security", false, "The pilot token has no uses left"],
  [1709, "SEC_TOKEN_EXPIRED", "security", false, "The pilot token has expired"],
  [1710, "SEC_TOKEN_WRONG_SITE", "security", false, "The pilot token belongs to another site"],
  [1711, "SEC_KEY_REUSED", "security", false, "The one-time proxy key was already used"],
  [1712, "SEC_KEY_INVALID", "security", false, "The one-time proxy key is unknown, expired, or bound to another user, job or pilot"],
  [1713, "SEC_NOT_AUTHORIZED", "security", false, "The caller is not authorized for this request"],
  [1714, "SEC_RENEWAL_EXHAUSTED", "security", false, "The job has used all its proxy renewals"],
  [1715, "SEC_CERT_REVOKED", "security", false, "The certificate is on the CA's revocation list (wms pki revoke); ask the CA for a new one"],
  [1716, "SEC_SEAL_KEY_UNKNOWN", "security", false, "The record was sealed under a credential key this keyring no longer holds; restore the key or delegate again"],
  [1720, "SEC_REQUEST_EXPIRED", "security", false, "The signed request is past its expiry, issued in the future, or valid for too long; sign a new one (and check the clock)"],
  [1721, "SEC_SPEC_UNSEALED", "security", false, "A queued job spec carries no valid intake seal (changed in the store); the job is failed, not run"],
  [1722, "SEC_REPORT_FORGED", "security", false, "A report is not signed by the pilot that holds the job's attempt (dead-lettered)"],
  [1723, "SEC_NOT_OPERATOR", "security", false, "Only a certificate with the operator role may do this (factory control); issue one with wms pki issue --role operator"],
  [1724, "SEC_HEARTBEAT_FORGED", "security", false, "A heartbeat is not authenticated with the heartbeat key of the attempt it names (only the pilot the job was handed to holds it); the lease was not renewed"],
  [1725, "SEC_CENSUS_FORGED", "security", false, "A pilot census names a pilot without the proof of the token that pilot was started with; ignored and counted (censusRefused)"],
  [1726, "SEC_REPORT_MISATTRIBUTED", "security", false, "An accounting record names another user, group, VO or site than the job attempt it is signed for, or more wall time than the job's walltime allows; dead-lettered, nothing added"],
  [1727, "SEC_TOKEN_WRONG_PILOT", "security", false, "The pilot token was minted for another pilot id than the advert names; nothing claimed, no use spent"],
  // site authorization and identity switch (LCAS / LCMAPS / SCAS roles, gLExec's switch)
  [1800, "AUTHZ_BANNED", "site-authz", false, "The DN or its CA is on the site's ban list"],
  [1801, "AUTHZ_NOT_ALLOWED", "site-authz", false, "The DN or its CA is not on the site's allow list"],
  [1802, "AUTHZ_VO_REFUSED", "site-authz", false, "The VO, group or role is not accepted at this site"],
  [1803, "AUTHZ_WALLTIME_LIMIT", "site-authz", false, "The job's walltime exceeds the site's limit for its VO"],
  [1804, "MAP_NO_ACCOUNT", "site-authz", false, "No local account is mapped to this DN"],
  [1805, "MAP_POOL_EXHAUSTED", "site-authz", true, "Every pool account is leased; try later"],
  [1806, "SWITCH_FAILED", "site-authz", true, "The identity switch to the mapped account failed"],
  [1807, "SWITCH_REQUIRED", "site-authz", false, "The site requires an identity switch and the pilot cannot run the payload as itself"],
  [1808, "POOL_LEASE_REFUSED", "site-authz", false, "The pool-lease service refused: the request is not signed by the pilot that holds a live attempt of a job of this DN at this site; nothing was leased or released"],
  // reports and agents
  [1900, "REPORT_BAD_SCHEMA", "reports", false, "A report does not match its schema (dead-lettered)"],
  [1901, "REPORT_UNKNOWN_JOB", "reports", false, "A report names a job that does not exist (dead-lettered)"],
  [1902, "REPORT_SPOOLED", "reports", true, "RabbitMQ is unreachable; reports are spooled to disk"],
  [1903, "RETRY_MAX_ATTEMPTS", "reports", false, "The job failed its last allowed attempt"],
  [1904, "JOB_STALE_UPDATE", "reports", false, "An update named an earlier attempt or a lease token that no longer holds the job; refused, and the pilot is told to stop"],
  [1905, "JOB_HOLDING_TIMEOUT", "reports", false, "The job's payload ended but its final report did not arrive within the holding timeout"],
  [1906, "REPORT_ATTEMPT_ACCOUNTED", "reports", false, "The job's attempt was already accounted for by another accounting record (one per attempt); dead-lettered, nothing added"],
  // credential cache: MyProxy's failure conditions, each keeping its MyProxyError meaning
  [2100, "MYPROXY_NO_SERVER", "credentials", false, "MyProxyError: server name not specified"],
  [2101, "MYPROXY_NO_VOMS", "credentials", false, "MyProxyError: voms attributes not specified"],
  [2102, "MYPROXY_NO_USER_DN", "credentials", false, "MyProxyError: user DN not specified"],
  [2103, "MYPROXY_NO_PILOT_OWNER_DN", "credentials", false, "MyProxyError: pilot owner DN not specified"],
  [2104, "MYPROXY_BAD_DELEGATED_PATH", "credentials", false, "MyProxyError: invalid path for the delegated proxy"],
  [2105, "MYPROXY_BAD_PILOT_PROXY_PATH", "credentials", false, "MyProxyError: invalid pilot proxy path"],
  [2106, "MYPROXY_NO_DELEGATED_PATH", "credentials", false, "MyProxyError: no path to delegated proxy specified"],
  [2200, "MYPROXY_INIT_MISSING", "credentials", false, "MyProxyError: myproxy-init not available in PATH"],
  [2201, "MYPROXY_LOGON_MISSING", "credentials", false, "MyProxyError: myproxy-logon not available in PATH"],
  [2202, "MYPROXY_INIT_VERSION", "credentials", false, "MyProxyError: myproxy-init version not valid"],
  [2203, "MYPROXY_LOGON_VERSION", "credentials", false, "MyProxyError: myproxy-logon version not valid"],
  [2300, "MYPROXY_DELEGATION_FAILED", "credentials", true, "MyProxyError: proxy delegation failed"],
  [2301, "MYPROXY_RETRIEVAL_FAILED", "credentials", true, "MyProxyError: proxy retrieval failed"],
  // Ours, next to retrieval: what a retry cannot cure, so a job fails at once with the real cause.
  [2302, "CREDENTIAL_NOT_STORED", "credentials", false, "No valid delegated credential is stored for this user; delegate one with 'wms proxy init'"],
  [2303, "CREDENTIAL_TOO_SHORT", "credentials", false, "The delegated credential expires before the work can finish; delegate a longer one with 'wms proxy init --lifetime H'"],
  [2400, "MYPROXY_DN_MISMATCH", "credentials", false, "MyProxyError: security violation. Logname and DN do not match"],
] as const satisfies ReadonlyArray<readonly [number, string, ErrorCategory, boolean, string]>;

type Row = (typeof table)[number];
export type ErrorName = Row[1];
export type ErrorCode = Row[0];

export const ERROR_CODES: readonly ErrorCodeEntry[] = table.map(([code, name, category, retryable, message]) => ({
  code,
  name,
  category,
  retryable,
  message,
}));

const byCode = new Map<number, ErrorCodeEntry>(ERROR_CODES.map((e) => [e.code, e]));
const byName = new Map<string, ErrorCodeEntry>(ERROR_CODES.map((e) => [e.name, e]));

/** Named access, so code reads `ERR.SEC_KEY_REUSED` instead of a bare number. */
export const ERR = Object.fromEntries(table.map(([code, name]) => [name, code])) as { readonly [K in ErrorName]: Extract<Row, readonly [number, K, ...unknown[]]>[0] };

export function errorEntry(code: number): ErrorCodeEntry | undefined {
  return byCode.get(code);
}

export function errorByName(name: string): ErrorCodeEntry | undefined {
  return byName.get(name.toUpperCase());
}

export function isRetryable(code: number): boolean {
  return byCode.get(code)?.retryable ?? false;
}
