// `wms secrets init`: one identity per role on NATS, Redis and RabbitMQ, and the server-side files
// that enforce transport-roles.ts. Servers hold only verifiers: NATS the NKey public keys (the seed,
// an Ed25519 private key, never leaves the role's folder), Redis SHA-256 password hashes, RabbitMQ
// salted SHA-256 hashes (its rabbit_password_hashing_sha256). Each role's folder holds its own
// secrets (mode 0600) and an identity file services load with `identityFile` / WMS_IDENTITY_FILE.
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { nkeys } from "nats";
import { stringify as toYaml } from "yaml";
import { ERR, WmsError, type WireNames } from "../schemas/index.ts";
import { inboxPrefix, natsPermissions, rabbitPermissions, redisAcl, transportUser, TRANSPORT_ROLES, type TransportRole } from "./transport-roles.ts";

export interface RoleIdentity {
  readonly role: TransportRole;
  readonly dir: string;
  readonly identityFile: string;
  readonly natsPublicKey?: string;
  readonly redisUser?: string;
  readonly rabbitUser?: string;
}

export interface SecretsInitResult {
  readonly dir: string;
  readonly namespace: string;
  readonly roles: RoleIdentity[];
  /** Server-side files: include the NATS one from nats-server.conf, load the ACL file in redis.conf. */
  readonly natsConfig: string;
  readonly redisAclFile: string;
  readonly rabbitDefinitions: string;
  readonly rabbitApplyScript: string;
}

export interface SecretsInitOptions {
  /** Where the servers listen, written into a demo server config (default: nats-server's 4222). */
  readonly natsPort?: number;
}

/** A random password: 32 bytes of the CSPRNG, base64url (no characters any config format quotes). */
export function newPassword(): string {
  return randomBytes(32).toString("base64url");
}

/** Redis ACL files accept `#<sha256 hex>` in place of a password. */
export function redisPasswordHash(password: string): string {
  return createHash("sha256").update(password, "utf8").digest("hex");
}

/** RabbitMQ's rabbit_password_hashing_sha256: base64(salt ‖ SHA-256(salt ‖ password)), 4-byte salt. */
export function rabbitPasswordHash(password: string, salt: Buffer = randomBytes(4)): string {
  return Buffer.concat([salt, createHash("sha256").update(salt).update(password, "utf8").digest()]).toString("base64");
}

/** NATS config text: strings quoted JSON-style (the NATS config grammar accepts them). */
function natsList(items: readonly string[]): string {
  return `[${items.map((i) => JSON.stringify(i)).join(", ")}]`;
}

export function natsAuthorizationBlock(users: ReadonlyArray<{ role: TransportRole; nkey: string }>, names: WireNames): string {
  const lines = ["authorization {", "  users = ["];
  for (const u of users) {
    const p = natsPermissions(u.role, names);
    if (!p) continue;
    const pub = p.publish.length > 0 ? `publish = { allow = ${natsList(p.publish)} }` : `publish = { deny = [">"] }`;
    const sub = `subscribe = { allow = ${natsList(p.subscribe)} }`;
    const resp = p.respond ? ", allow_responses = true" : "";
    lines.push(`    # ${u.role}`, `    { nkey = ${JSON.stringify(u.nkey)}, permissions = { ${pub}, ${sub}${resp} } }`);
  }
  lines.push("  ]", "}");
  return lines.join("\n") + "\n";
}

export function redisAclLine(role: TransportRole, names: WireNames, password: string): string | undefined {
  const acl = redisAcl(role, names);
  if (!acl) return undefined;
  const selectors = (acl.selectors ?? []).map((sel) => `(${[...sel.keys.map((k) => `~${k}`), ...sel.commands].join(" ")})`);
  return ["user", transportUser(role, names), "on", `#${redisPasswordHash(password)}`, "resetkeys", ...acl.keys.map((k) => `~${k}`), ...(acl.readKeys ?? []).map((k) => `%R~${k}`), "resetchannels", ...acl.commands, ...selectors].join(" ");
}

function writeSecret(path: string, text: string): void {
  writeFileSync(path, text.endsWith("\n") ? text : `${text}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/**
 * Creates DIR/<role>/ for every role (secrets and identity.yaml) and DIR/servers/ (nats.conf,
 * redis-users.acl, rabbitmq-definitions.json, rabbitmq-apply.sh). Refuses a folder that already
 * holds secrets, so a second run never silently rotates a running deployment's credentials.
 */
export function initTransportSecrets(dir: string, names: WireNames, opts: SecretsInitOptions = {}): SecretsInitResult {
  const root = resolve(dir);
  if (existsSync(join(root, "servers"))) throw new WmsError(ERR.USAGE, `${root} already holds transport secrets; pick an empty folder (rotating means new files and a server reload)`);
  mkdirSync(join(root, "servers"), { recursive: true, mode: 0o755 });
  const vhost = names.namespace;
  const roles: RoleIdentity[] = [];
  const natsUsers: Array<{ role: TransportRole; nkey: string }> = [];
  // An ACL file takes no comments: users per role (transport-roles.ts), loaded with `aclfile`.
  // The default user is off: no connection is ever it (an unauthenticated one gets NOAUTH, AUTH as
  // it is refused). Its rules still matter once: Redis 7.0 replays an append-only file as the
  // default user and re-checks a MULTI/EXEC's commands against its rules at EXEC, so with `-@all`
  // every transaction (each script's effects are one) was dropped on restart without an error
  // (measured: a restarted Redis kept the job records and lost every ready set; valkey-io/valkey
  // PR 3984, "AOF loading must not check ACL permissions"). Off, with every right, it loses nothing.
  const aclLines = ["user default off resetkeys ~* resetchannels &* +@all"];
  const rabbitUsers: Array<{ name: string; password_hash: string; hashing_algorithm: string; tags: string[] }> = [];
  const rabbitPerms: Array<{ user: string; vhost: string; configure: string; write: string; read: string }> = [];
  const applyLines = ["#!/bin/sh", "# Applies the RabbitMQ users of this deployment (run where rabbitmqctl reaches the broker).", "set -e", `rabbitmqctl add_vhost ${shellQuote(vhost)} || true`];

  for (const role of TRANSPORT_ROLES) {
    const roleDir = join(root, role);
    mkdirSync(roleDir, { recursive: true, mode: 0o700 });
    const identity: Record<string, Record<string, unknown>> = {};
    const out: { role: TransportRole; dir: string; identityFile: string; natsPublicKey?: string; redisUser?: string; rabbitUser?: string } = { role, dir: roleDir, identityFile: join(roleDir, "identity.yaml") };
    if (natsPermissions(role, names)) {
      const kp = nkeys.createUser();
      writeSecret(join(roleDir, "nats.nk"), new TextDecoder().decode(kp.getSeed()));
      const nkey = kp.getPublicKey();
      natsUsers.push({ role, nkey });
      identity.nats = { nkeySeedFile: "nats.nk", inboxPrefix: inboxPrefix(names, role) };
      out.natsPublicKey = nkey;
    }
    const redisPassword = newPassword();
    const line = redisAclLine(role, names, redisPassword);
    if (line) {
      writeSecret(join(roleDir, "redis.password"), redisPassword);
      aclLines.push(line);
      identity.redis = { username: transportUser(role, names), passwordFile: "redis.password" };
      out.redisUser = transportUser(role, names);
    }
    const rp = rabbitPermissions(role, names);
    if (rp) {
      const user = transportUser(role, names);
      const password = newPassword();
      writeSecret(join(roleDir, "rabbitmq.password"), password);
      rabbitUsers.push({ name: user, password_hash: rabbitPasswordHash(password), hashing_algorithm: "rabbit_password_hashing_sha256", tags: [] });
      rabbitPerms.push({ user, vhost, configure: rp.configure, write: rp.write, read: rp.read });
      applyLines.push(
        `rabbitmqctl add_user ${shellQuote(user)} "$(cat "$(dirname "$0")/../${role}/rabbitmq.password")" || rabbitmqctl change_password ${shellQuote(user)} "$(cat "$(dirname "$0")/../${role}/rabbitmq.password")"`,
        `rabbitmqctl set_permissions -p ${shellQuote(vhost)} ${shellQuote(user)} ${shellQuote(rp.configure)} ${shellQuote(rp.write)} ${shellQuote(rp.read)}`,
      );
      identity.rabbitmq = { username: user, passwordFile: "rabbitmq.password", vhost, declareTopology: rp.declaresTopology };
      out.rabbitUser = user;
    }
    writeFileSync(out.identityFile, `# ${role}: this role's identity on NATS, Redis and RabbitMQ (wms secrets init)\n${toYaml(identity)}`, { mode: 0o600 });
    roles.push(out);
  }
  applyLines.push("# No guest: it can only log in from localhost, but a deployment has no use for it.", "rabbitmqctl delete_user guest || true");

  const natsConfig = join(root, "servers", "nats-auth.conf");
  // The server files hold verifiers only (NKey public keys, SHA-256 hashes of 256-bit random
  // passwords, salted hashes), so servers running as their own user (redis, rabbitmq) can read them.
  writeFileSync(natsConfig, `# NATS users per role (transport-roles.ts); include from nats-server.conf: include "nats-auth.conf"\n${natsAuthorizationBlock(natsUsers, names)}`, { mode: 0o644 });
  const redisAclFile = join(root, "servers", "redis-users.acl");
  writeFileSync(redisAclFile, aclLines.join("\n") + "\n", { mode: 0o644 });
  const rabbitDefinitions = join(root, "servers", "rabbitmq-definitions.json");
  writeFileSync(
    rabbitDefinitions,
    JSON.stringify({ users: rabbitUsers, vhosts: [{ name: vhost }], permissions: rabbitPerms }, null, 2) + "\n",
    { mode: 0o644 },
  );
  const rabbitApplyScript = join(root, "servers", "rabbitmq-apply.sh");
  writeFileSync(rabbitApplyScript, applyLines.join("\n") + "\n", { mode: 0o700 });
  void opts;
  return { dir: root, namespace: names.namespace, roles, natsConfig, redisAclFile, rabbitDefinitions, rabbitApplyScript };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
