import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR, type MatchReply } from "../../schemas/index.ts";
import { SignerCache } from "../../security/index.ts";
import { autoclusterId, autoclusterKey } from "../../jobs/index.ts";
import { usageHashKey, usageShard } from "../../agents/accounting/index.ts";
import { createJobs } from "./fixtures.ts";
import { TestPilot } from "./pilot-client.ts";
import { startHarness, type Harness } from "./service-harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness("mmsvc");
});

afterAll(async () => {
  await h.close();
});

async function pilotAt(site: string, facts: ConstructorParameters<typeof TestPilot>[4] = {}, uses = 100): Promise<TestPilot> {
  return new TestPilot(h.nc, h.loaded.names, site, await h.token(site, uses), facts);
}

describe("matchmaker service", () => {
  it("matches a job only to a pilot at the job's site, with a verifiable envelope", async () => {
    const [a] = await createJobs(h.store, { site: "LOC_A" }, 1);
    const [b] = await createJobs(h.store, { site: "LOC_B" }, 1);
    await h.dispatch.enqueue([a, b]);
    const elsewhere = await (await pilotAt("LOC_C")).advertise();
    expect(elsewhere.status).toBe("nomatch");
    const pilotB = await pilotAt("LOC_B");
    const body = pilotB.open(await pilotB.advertise(), h.trust);
    expect(body.job.jobId).toBe(b.jobId);
    expect(body.job.site).toBe("LOC_B");
    expect(body.pilotId).toBe(pilotB.pilotId);
    expect(body.submitterDn).toBe(b.userDn);
    expect(body.encryptedKeys.length).toBeGreaterThan(16);
    const rec = await h.store.getJob(b.jobId);
    expect(rec?.state).toBe("sent");
    expect(rec?.pilotId).toBe(pilotB.pilotId);
    expect((await pilotB.advertise()).status).toBe("nomatch");
    expect((await h.store.getJob(a.jobId))?.state).toBe("activated");
  });

  it("offers only jobs whose Requirements accept the machine and which the machine accepts", async () => {
    const site = "REQ_SITE";
    const [bigMem] = await createJobs(h.store, { site, requirements: "TARGET.Memory >= 64000" }, 1);
    const [tooManyCores] = await createJobs(h.store, { site, cores: 32 }, 1);
    const [linuxOnly] = await createJobs(h.store, { site, requirements: 'TARGET.OpSys == "LINUX"' }, 1);
    await h.dispatch.enqueue([bigMem, tooManyCores, linuxOnly]);
    const osx = await pilotAt(site, { opSys: "OSX", memoryMb: 16000, cpus: 8 });
    expect((await osx.advertise()).status).toBe("nomatch");
    const linux = await pilotAt(site, { memoryMb: 16000, cpus: 8 });
    expect(linux.open(await linux.advertise(), h.trust).job.jobId).toBe(linuxOnly.jobId);
    expect((await linux.advertise()).status).toBe("nomatch");
    const big = await pilotAt(site, { memoryMb: 128000, cpus: 64 });
    const got = [big.open(await big.advertise(), h.trust).job.jobId, big.open(await big.advertise(), h.trust).job.jobId].sort();
    expect(got).toEqual([bigMem.jobId, tooManyCores.jobId].sort());
  });

  it("orders matching jobs by task priority, then fair share, then job Rank", async () => {
    const site = "ORDER_SITE";
    const heavy = "/DC=org/CN=Heavy User";
    const light = "/DC=org/CN=Light User";
    await h.redis.hset(usageHashKey(h.loaded.names, usageShard(h.loaded.names, heavy), "user", heavy), "wallSec", "900000");
    await h.redis.hset(usageHashKey(h.loaded.names, usageShard(h.loaded.names, light), "user", light), "wallSec", "10");
    const [rankLow] = await createJobs(h.store, { site, priority: 50, userDn: light, rank: "1" }, 1);
    const [rankHigh] = await createJobs(h.store, { site, priority: 50, userDn: light, rank: "TARGET.Cpus * 10" }, 1);
    const [heavyJob] = await createJobs(h.store, { site, priority: 50, userDn: heavy, rank: "1000" }, 1);
    const [urgent] = await createJobs(h.store, { site, priority: 900, userDn: heavy }, 1);
    const [low] = await createJobs(h.store, { site, priority: 1, userDn: light, rank: "1000" }, 1);
    await h.dispatch.enqueue([low, heavyJob, rankLow, rankHigh, urgent]);
    const pilot = await pilotAt(site);
    const order: string[] = [];
    for (let i = 0; i < 5; i++) order.push(pilot.open(await pilot.advertise(), h.trust).job.jobId);
    expect(order).toEqual([urgent.jobId, rankHigh.jobId, rankLow.jobId, heavyJob.jobId, low.jobId]);
  });

  it("refuses unknown, spent and other-site tokens, and spends nothing on a refusal", async () => {
    const site = "TOK_SITE";
    const [job] = await createJobs(h.store, { site }, 1);
    await h.dispatch.enqueue([job]);
    const forged = new TestPilot(h.nc, h.loaded.names, site, "x".repeat(43));
    expect(await forged.advertise()).toMatchObject({ status: "error", code: ERR.MATCH_TOKEN_REJECTED });
    const otherSite = new TestPilot(h.nc, h.loaded.names, site, await h.token("SOMEWHERE_ELSE"));
    expect(await otherSite.advertise()).toMatchObject({ status: "error", code: ERR.SEC_TOKEN_WRONG_SITE });
    const once = await pilotAt("TOK_OTHER", {}, 1);
    expect((await once.advertise()).status).toBe("nomatch");
    expect(await once.advertise()).toMatchObject({ status: "error", code: ERR.SEC_TOKEN_SPENT });
    expect((await h.store.getJob(job.jobId))?.state).toBe("activated");
    expect(await h.dispatch.waitingCount(site)).toBe(1);
  });

  it("spends a token's last use on a match and then refuses it with jobs still waiting, claiming nothing more", async () => {
    // The token is used in the claim's own step: a spent one must not take the next job.
    const site = "TOK_LAST";
    const jobs = await createJobs(h.store, { site }, 2);
    await h.dispatch.enqueue(jobs);
    const twice = await pilotAt(site, {}, 2);
    const got = [twice.open(await twice.advertise(), h.trust).job.jobId, twice.open(await twice.advertise(), h.trust).job.jobId];
    expect(got.sort()).toEqual(jobs.map((j) => j.jobId).sort());
    const [third] = await createJobs(h.store, { site }, 1);
    await h.dispatch.enqueue([third]);
    expect(await twice.advertise()).toMatchObject({ status: "error", code: ERR.SEC_TOKEN_SPENT });
    expect((await h.store.getJob(third.jobId))?.state).toBe("activated");
    expect(await h.dispatch.waitingCount(site)).toBe(1);
    // A good token at the same site still gets the job the refused one did not take.
    const fresh = await pilotAt(site);
    expect(fresh.open(await fresh.advertise(), h.trust).job.jobId).toBe(third.jobId);
  });

  it("lets racing adverts with a copied token take exactly as many jobs as it has uses: the rest are refused as spent and claim nothing", async () => {
    // The use is made inside the claim's own script: two adverts racing its last use must not both claim.
    const site = "TOK_RACE";
    const jobs = await createJobs(h.store, { site }, 12);
    await h.dispatch.enqueue(jobs);
    const holder = await pilotAt(site, {}, 3);
    // The same token sent by 12 adverts at once, under other pilot ids (copied, or sent again).
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => (i === 0 ? holder : holder.asPilot(`${holder.pilotId}-copy${i}`)).advertise()));
    expect(replies.filter((r) => r.status === "match")).toHaveLength(3);
    expect(replies.filter((r) => r.status !== "match")).toEqual(Array.from({ length: 9 }, () => expect.objectContaining({ status: "error", code: ERR.SEC_TOKEN_SPENT })));
    expect(await h.dispatch.waitingCount(site)).toBe(9);
    const states = await Promise.all(jobs.map(async (j) => (await h.store.getJob(j.jobId))?.state));
    expect(states.filter((st) => st === "sent")).toHaveLength(3);
    expect(states.filter((st) => st === "activated")).toHaveLength(9);
  });

  it("names the signer pair a pilot says it verified instead of sending it again, and sends it whole otherwise", async () => {
    const site = "SIGNER_SITE";
    const jobs = await createJobs(h.store, { site }, 4);
    await h.dispatch.enqueue(jobs);
    const p = await pilotAt(site);
    const signers = new SignerCache();
    const envelopeOf = (r: MatchReply) => (r.status === "match" ? r.envelope : undefined);
    const first = await p.advertise();
    expect(envelopeOf(first)?.signerCert).toBeDefined();
    p.open(first, h.trust, signers);
    const known = signers.current;
    expect(known).toMatch(/^[0-9a-f]{64}$/);

    const named = await p.advertise({ knownSigner: known });
    expect(envelopeOf(named)).toMatchObject({ signerRef: known });
    expect(envelopeOf(named)?.signerCert).toBeUndefined();
    expect(envelopeOf(named)?.delegation).toBeUndefined();
    expect(p.open(named, h.trust, signers).job.site).toBe(site);

    // A pair the matchmaker does not hold (rotated, or never ours): the envelope carries its own.
    const stale = await p.advertise({ knownSigner: "0".repeat(64) });
    expect(envelopeOf(stale)?.signerCert).toBeDefined();
    expect(envelopeOf(stale)?.signerRef).toBeUndefined();
    p.open(stale, h.trust, new SignerCache());
    // Not an id at all: refused before anything is spent or claimed.
    expect(await p.advertise({ knownSigner: "not-a-hash" })).toMatchObject({ status: "error", code: ERR.BAD_INPUT });
    expect(await h.dispatch.waitingCount(site)).toBe(1);
  });

  it("answers a bad machine ad or a bad advert with its error code and claims nothing", async () => {
    const site = "BAD_SITE";
    const [job] = await createJobs(h.store, { site }, 1);
    await h.dispatch.enqueue([job]);
    const p = await pilotAt(site);
    expect(await p.advertise({ classad: "[ Cpus = ; ]" })).toMatchObject({ status: "error", code: ERR.MATCH_BAD_MACHINE_AD });
    expect(await p.advertise({ site: "bad site!" })).toMatchObject({ status: "error", code: ERR.BAD_INPUT });
    expect(await p.advertise({ publicKey: "-----BEGIN PUBLIC KEY-----\n" + "A".repeat(80) + "\n-----END PUBLIC KEY-----\n" })).toMatchObject({ status: "error", code: ERR.BAD_INPUT });
    // Keys of another curve or type: nothing can be encrypted to them, so nothing is claimed for them
    // (claiming first took the job, moved it to sent and back, and spent a use of the token each time).
    const once = await pilotAt(site, {}, 1);
    const otherKeys = [generateKeyPairSync("ec", { namedCurve: "secp384r1" }), generateKeyPairSync("ec", { namedCurve: "secp256k1" }), generateKeyPairSync("ed25519"), generateKeyPairSync("x25519")];
    for (const k of otherKeys) {
      const publicKey = k.publicKey.export({ type: "spki", format: "pem" }).toString();
      expect(await once.advertise({ publicKey }), k.publicKey.asymmetricKeyType).toMatchObject({ status: "error", code: ERR.BAD_INPUT });
    }
    expect((await h.store.getJob(job.jobId))?.state).toBe("activated");
    expect(await h.dispatch.waitingCount(site)).toBe(1);
    // The one-use token was not spent on them: its pilot, with its own key, still gets the job.
    expect(once.open(await once.advertise(), h.trust).job.jobId).toBe(job.jobId);
  });

  it("answers an advert or heartbeat only into an inbox: a reply subject naming a service's subject gets nothing published there", async () => {
    // A responder may publish to the reply subject of what it receives (nats-server's allow_responses),
    // whatever that subject is: a pilot naming factory control, the intake or the census as the reply
    // of its advert made the matchmaker publish there, where pilots themselves may not.
    const factory = await h.connect("factory");
    const subjects = [h.loaded.names.subjects.factoryControl, h.loaded.names.subjects.pilotCensus];
    const heard: string[] = [];
    for (const subj of subjects) factory.subscribe(subj, { callback: (e, m) => void (e ? undefined : heard.push(`${m.subject}: ${new TextDecoder().decode(m.data).slice(0, 80)}`)) });
    await factory.flush();
    const p = await pilotAt("REPLY_SITE");
    for (const reply of subjects) {
      h.nc.publish(h.loaded.names.advertFor("REPLY_SITE"), new TextEncoder().encode(p.advertText()), { reply });
      h.nc.publish(h.loaded.names.heartbeatFor("REPLY_SITE"), new TextEncoder().encode("{not json"), { reply });
    }
    await h.nc.flush();
    // The same requests with an inbox for the reply are answered: the ones above were received too.
    expect((await p.advertise()).status).toBe("nomatch");
    const hb = await h.nc.request(h.loaded.names.heartbeatFor("REPLY_SITE"), new TextEncoder().encode("{not json"), { timeout: 15_000 });
    expect(JSON.parse(new TextDecoder().decode(hb.data))).toMatchObject({ status: "error", code: ERR.BAD_INPUT });
    await factory.flush();
    expect(heard).toEqual([]);
  });

  it("never gives one job to two pilots when many ask at once", async () => {
    const site = "RACE_SITE";
    const specs = await createJobs(h.store, { site }, 40);
    await h.dispatch.enqueue(specs);
    const pilots = await Promise.all(Array.from({ length: 70 }, () => pilotAt(site)));
    const replies = await Promise.all(pilots.map((p) => p.advertise()));
    const ids = replies.flatMap((r, i) => (r.status === "match" ? [pilots[i].open(r, h.trust).job.jobId] : []));
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
    expect(replies.filter((r) => r.status === "nomatch")).toHaveLength(30);
    expect((await h.store.taskCounts(specs[0].taskId)).sent).toBe(40);
  });

  it("skips a job cancelled while queued", async () => {
    const site = "CANCEL_SITE";
    const specs = await createJobs(h.store, { site }, 2);
    await h.dispatch.enqueue(specs);
    expect(await h.dispatch.remove(specs[0].jobId)).toBe(true);
    await h.store.transition(specs[0].jobId, "cancelled", ["activated"]);
    const p = await pilotAt(site);
    expect(p.open(await p.advertise(), h.trust).job.jobId).toBe(specs[1].jobId);
    expect((await p.advertise()).status).toBe("nomatch");
  });

  it("renews the lease on heartbeats, refuses a wrong lease token, pilot or attempt as not the attempt's (E1724, counted), and tells the pilot of a cancel", async () => {
    const site = "HB_SITE";
    const [job] = await createJobs(h.store, { site }, 1);
    await h.dispatch.enqueue([job]);
    const p = await pilotAt(site);
    const body = p.open(await p.advertise(), h.trust);
    expect((await p.heartbeat(body)).status).toBe("ok");
    const ac = autoclusterId(autoclusterKey(job));
    const forged = `${ac}.${"0".repeat(24)}.${site}`;
    // The attempt's heartbeat key is bound to job, attempt, lease token and pilot: none of them can change.
    expect(await p.heartbeat({ ...body, lockToken: forged })).toMatchObject({ status: "error", code: ERR.SEC_HEARTBEAT_FORGED });
    const stranger = await pilotAt(site);
    expect(await stranger.heartbeat(body)).toMatchObject({ status: "error", code: ERR.SEC_HEARTBEAT_FORGED });
    expect(await p.heartbeat({ ...body, job: { ...body.job, attempt: body.job.attempt + 1 } })).toMatchObject({ status: "error", code: ERR.SEC_HEARTBEAT_FORGED });
    const refusals = await h.mm?.registry.getSingleMetric("wms_matchmaker_heartbeat_refusals_total")?.get();
    expect(refusals?.values.find((v) => v.labels.code === String(ERR.SEC_HEARTBEAT_FORGED))?.value).toBe(3);
    expect((await p.heartbeat(body)).status).toBe("ok");
    await h.store.transition(job.jobId, "cancelled", ["sent", "starting", "running"]);
    expect((await p.heartbeat(body)).status).toBe("cancelled");
  });
});
