// Least privilege on the three transports, per role: which NATS subjects a role may publish and
// subscribe, which Redis keys and commands it may use, and what it may do on RabbitMQ. Pure data
// from the wire names, so the server files `wms secrets init` writes and the tests that attack them
// read the same table. Roles that do not use a transport get no user on it at all.
import type { WireNames } from "../schemas/index.ts";

export const TRANSPORT_ROLES = ["intake", "matchmaker", "agents", "credentials", "factory", "monitor", "pilot", "operator", "pool-leases"] as const;
export type TransportRole = (typeof TRANSPORT_ROLES)[number];

export function isTransportRole(v: string): v is TransportRole {
  return (TRANSPORT_ROLES as readonly string[]).includes(v);
}

export interface NatsPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  /**
   * May answer the requests it receives (nats-server's allow_responses): a responder publishes only
   * to the reply subject of a message it was delivered, so it needs no publish rights on inboxes.
   */
  readonly respond: boolean;
  /** The inbox prefix its own requests use; only it may subscribe there. */
  readonly inboxPrefix: string;
}

export interface RedisAcl {
  /** ACL key patterns it may read and write (`~pattern`). */
  readonly keys: readonly string[];
  /** Key patterns it may only read (`%R~pattern`). */
  readonly readKeys?: readonly string[];
  /** ACL command rules, in order (`+@read`, `-@dangerous`, `+info`). */
  readonly commands: readonly string[];
  /**
   * Redis 7 ACL selectors: each allows only its commands, and only on its keys (`(~pattern +cmd)`),
   * beside the root rules above; for a key a role may write with one command and no other.
   */
  readonly selectors?: ReadonlyArray<{ readonly keys: readonly string[]; readonly commands: readonly string[] }>;
}

export interface RabbitPermissions {
  /** Regular expressions over resource names in the deployment's vhost (RabbitMQ's model). */
  readonly configure: string;
  readonly write: string;
  readonly read: string;
  /** Whether its publisher may declare the topology (else it only checks it exists). */
  readonly declaresTopology: boolean;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * A base subject and its per-site subjects (`<base>.<site>`, one token below: never deeper). The
 * base one stays for pilots started before per-site subjects. Pilots share one NATS identity, so
 * the subject cannot bind a pilot to its site; the matchmaker does (a message's site must be its
 * subject's, its pilot token and lease tokens are bound to the site).
 */
const withSites = (subject: string): string[] => [subject, `${subject}.*`];

export function inboxPrefix(names: WireNames, role: TransportRole): string {
  return `_INBOX.${names.namespace}.${role}`;
}

/** NATS subjects per role; undefined for a role that does not use NATS. */
export function natsPermissions(role: TransportRole, names: WireNames): NatsPermissions | undefined {
  const s = names.subjects;
  const inbox = inboxPrefix(names, role);
  const own = [`${inbox}.>`];
  switch (role) {
    case "pilot":
      // Adverts, heartbeats, credential requests with its one-time key, its census; replies come to
      // its inbox. It can neither receive adverts nor heartbeats (no rogue matchmaker) nor publish
      // factory control, batches or into anyone's inbox.
      // Pool-account leases at sites that map to pool accounts go through the pool-lease service.
      return { publish: [...withSites(s.advert), ...withSites(s.heartbeat), s.credRetrieve, s.credRenew, s.credInfo, s.pilotCensus, s.poolLease], subscribe: own, respond: false, inboxPrefix: inbox };
    case "matchmaker":
      return { publish: [], subscribe: [...withSites(s.advert), ...withSites(s.heartbeat), ...own], respond: true, inboxPrefix: inbox };
    case "intake":
      // It asks the credential cache whether a task's owner holds a credential (cred.info).
      return { publish: [s.credInfo], subscribe: [s.intakeSubmit, s.intakeControl, ...own], respond: true, inboxPrefix: inbox };
    case "credentials":
      return { publish: [], subscribe: [s.credDelegate, s.credRetrieve, s.credInfo, s.credRenew, ...own], respond: true, inboxPrefix: inbox };
    case "pool-leases":
      // Only it receives (and answers) the pilots' lease and release requests: no rogue responder.
      return { publish: [], subscribe: [s.poolLease, ...own], respond: true, inboxPrefix: inbox };
    case "factory":
      // It answers factory control with the queue's new knobs or its refusal.
      return { publish: [], subscribe: [s.pilotCensus, s.factoryControl, ...own], respond: true, inboxPrefix: inbox };
    case "operator":
      // The `wms` command of production managers and operators: batches, task control, factory
      // tuning, proxy delegation and info. Only this role publishes factory control.
      return { publish: [s.intakeSubmit, s.intakeControl, s.factoryControl, s.credDelegate, s.credInfo], subscribe: own, respond: false, inboxPrefix: inbox };
    case "agents":
    case "monitor":
      return undefined;
  }
}

/**
 * Redis ACL per role; undefined for pilots (and payloads): nothing a worker node holds opens Redis.
 * Keys are limited to the deployment's namespace (our own `ns:` keys and BullMQ's `{ns}` and
 * `{ns:...}` hash-tagged ones); commands to what a service needs, without the dangerous ones
 * (FLUSHALL, CONFIG, KEYS, DEBUG...). Redis checks these rules for commands inside Lua scripts too,
 * so a read-only role stays read-only through EVALSHA.
 */
export function redisAcl(role: TransportRole, names: WireNames): RedisAcl | undefined {
  const ns = names.namespace;
  const keys = [`${ns}:*`, `{${ns}}*`, `{${ns}:*`];
  // INFO: BullMQ reads the server version; CLIENT SETNAME/ID: ioredis and BullMQ name connections;
  // TIME: scripts that take the one clock of the deployment from Redis (pool-account leases).
  // CLUSTER SLOTS / INFO: on a Redis Cluster (redis.cluster.nodes) the client reads the slot map, and
  // `wms services check` the cluster's state; both only describe the cluster.
  const base = ["-@all", "+@connection", "+info", "+time", "+client|setname", "+client|getname", "+client|id", "+cluster|slots", "+cluster|info"];
  switch (role) {
    case "pilot":
      return undefined;
    case "monitor":
      return { keys, commands: [...base, "+@read", "+@scripting", "-@write", "-@dangerous", "+info"] };
    case "operator":
      // The `wms` of operators and data managers reads what the services keep (task status and
      // lists, job logs, pilots, the factory's state, accounting) and writes only the replica
      // catalog (`wms replica add/load`) and the knobs `wms factory set` persists for a factory's
      // next start. Key permissions hold inside scripts too. Keeping a change for a factory that
      // is not running spends the request's nonce first (SET NX, as the factory would on receipt),
      // so it cannot be replayed to a factory later: SET alone on the nonce keys, not DEL, which
      // would let a spent request be sent again.
      return {
        keys: [`${ns}:replica:*`, `${ns}:factory:*:q:*:knobs`],
        readKeys: keys,
        commands: [...base, "+@read", "+@write", "+@scripting", "+@keyspace", "+@hash", "+@set", "+@sortedset", "+@string", "+@list", "+@transaction", "-@dangerous", "+info"],
        selectors: [{ keys: [`${ns}:sec:nonce:*`], commands: ["+set"] }],
      };
    case "pool-leases":
      // The site-central pool-account lease service (site-authz/pool-lease-service.ts): the pool
      // hashes, read and written by its scripts; the job records, read only, to check who holds an
      // attempt (`<ns>:{<ns>:t:<task>}:…`: the `<ns>:` prefix pins the namespace); and one command
      // each on the request nonces (SET NX), the security audit stream (XADD) and its refusal
      // counter (HINCRBY). Nothing else of the namespace.
      return {
        keys: [`${ns}:site:*:pool`],
        readKeys: [`${ns}:{*:t:*`],
        commands: [...base, "+@read", "+@hash", "+@scripting", "-@dangerous", "+info"],
        selectors: [
          { keys: [`${ns}:sec:nonce:*`], commands: ["+set"] },
          { keys: [`${ns}:sec:audit`], commands: ["+xadd"] },
          { keys: [`${ns}:sec:pool-lease-refused`], commands: ["+hincrby"] },
        ],
      };
    default:
      return { keys, commands: [...base, "+@read", "+@write", "+@scripting", "+@keyspace", "+@list", "+@hash", "+@set", "+@sortedset", "+@string", "+@stream", "+@transaction", "+@blocking", "-@dangerous", "+info"] };
  }
}

/** RabbitMQ permissions per role in the deployment's vhost; undefined for roles without a user. */
export function rabbitPermissions(role: TransportRole, names: WireNames): RabbitPermissions | undefined {
  const r = names.rabbit;
  const reports = `^${escape(r.reportsExchange)}$`;
  const everything = `^${escape(names.namespace)}\\.reports(\\..*)?$`;
  switch (role) {
    case "pilot":
    case "credentials":
      // Publish reports, nothing else: no declaring, no reading any queue, no other exchange.
      return { configure: "^$", write: reports, read: "^$", declaresTopology: false };
    case "agents":
      // Declare the topology, consume the queues, republish dead letters to the dead-letter
      // exchange. Binding a queue needs write on the queue and read on the exchange.
      return { configure: everything, write: everything, read: everything, declaresTopology: true };
    default:
      return undefined;
  }
}

/** The user name of a role on every transport: namespaced, so two deployments never share one. */
export function transportUser(role: TransportRole, names: WireNames): string {
  return `${names.namespace}-${role}`;
}

/**
 * The role an identity is, from the names the table gives each role (its Redis or RabbitMQ user,
 * its NATS inbox prefix): undefined for an identity that names none, or names two roles.
 */
export function identityRole(
  names: WireNames,
  identity: { readonly nats?: { readonly inboxPrefix?: string }; readonly redis?: { readonly username?: string }; readonly rabbitmq?: { readonly username?: string } },
): TransportRole | undefined {
  const found = new Set<TransportRole>();
  for (const role of TRANSPORT_ROLES) {
    const user = transportUser(role, names);
    if (identity.redis?.username === user || identity.rabbitmq?.username === user || identity.nats?.inboxPrefix === inboxPrefix(names, role)) found.add(role);
  }
  return found.size === 1 ? [...found][0] : undefined;
}

/** The role of an identity the table gives no RabbitMQ user (an operator's `wms`, the matchmaker...), or undefined. */
export function roleWithoutRabbitUser(names: WireNames, identity: Parameters<typeof identityRole>[1]): TransportRole | undefined {
  const role = identityRole(names, identity);
  return role !== undefined && rabbitPermissions(role, names) === undefined ? role : undefined;
}
