import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig, readDataFile } from "../../platform/config.ts";
import { adler32 } from "../../platform/checksums.ts";
import { FactoryConfig, ReplicaCatalog, SiteConfig, TaskBatch } from "../../schemas/index.ts";
import { loadTrust, verifyChain } from "../../security/index.ts";
import { REPO_ROOT, runCli } from "../support/run-cli.ts";
import { wmsCommandIn } from "../../cli/command-kit.ts";

const base = mkdtempSync(path.join(tmpdir(), "wms-init-test-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("wms init", () => {
  const dir = path.join(base, "grid");
  // A `wms init` makes a PKI (RSA keys): ~20 s each in a loaded fresh-clone CI run, where the test
  // with two of them took 40 s of its 90 s.
  const INIT_TEST_MS = 240_000;

  it("writes a deployment folder whose every file loads with the schema its service uses", { timeout: INIT_TEST_MS }, async () => {
    const r = await runCli(["init", dir, "--monitor-port", "0", "--matchmakers", "3", "--json"], { cwd: base });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { namespace: string; configFile: string; tasks: string[] };
    const { config } = loadConfig({ path: out.configFile, env: {} });
    expect(config.namespace).toBe(out.namespace);
    expect(config.up).toMatchObject({ matchmakers: 3, monitorPort: 0 });
    expect(config.credentials.encryptionKey).toMatch(/^[A-Za-z0-9+/=]{44}$/);
    expect((statSync(out.configFile).mode & 0o777).toString(8)).toBe("600");
    const sites = SiteConfig.parse(readDataFile(config.sitesFile as string)).sites;
    for (const s of sites) expect(s.storagePath).toBe(path.join(dir, "storage", s.name));
    expect(FactoryConfig.parse(readDataFile(config.factoryFile as string)).queues.map((q) => q.site)).toEqual(sites.map((s) => s.name));
    expect(out.tasks.map((t) => path.basename(t))).toEqual(["chained-task.yaml", "data-local-job.yaml", "simple-job.yaml"]);
    for (const t of out.tasks) expect(TaskBatch.problems(readDataFile(t)), t).toBeUndefined();
    // The comments that explain each setting survive into the written files.
    expect(readFileSync(out.configFile, "utf8")).toMatch(/^# pilot-wms deployment, made by `wms init`/);
  });

  it("prints next steps that can be pasted as they are: npx wms only inside the clone, else npm link first; files that exist", { timeout: INIT_TEST_MS }, async () => {
    // Through npx, for a folder outside the clone: there 'npx wms' would ask the npm registry for
    // a package named wms (E404), so the steps say 'wms', after 'npm link' in the clone.
    const viaNpx = await runCli(["init", path.join(base, "npx-grid"), "--monitor-port", "0"], { cwd: base, env: { npm_command: "exec" } });
    expect(viaNpx.code, viaNpx.stderr).toBe(0);
    // The PKI's keys take seconds: said before they are made, on stderr, so stdout stays the steps.
    expect(viaNpx.stderr).toBe(`wms init: ${path.join(base, "npx-grid")}: sample data and example tasks written; making the PKI (CA, service, pilot and user keys: 5-20 s)\n`);
    expect(viaNpx.stdout).toContain(`next:\n  (cd ${REPO_ROOT.replace(/\/$/, "")} && npm link)   # once: puts 'wms' on your PATH`);
    const steps = viaNpx.stdout.split("\n").filter((l) => /^ {2}(npx )?wms /.test(l));
    expect(steps.length).toBe(5);
    for (const l of steps) expect(l).toMatch(/^ {2}wms /);
    const submit = steps.find((l) => l.includes("task submit")) as string;
    for (const f of submit.match(/(tasks|pki)\/\S+/g) ?? []) expect(existsSync(path.join(base, "npx-grid", f)), f).toBe(true);
    expect(submit).toMatch(/--cert pki\/\S+ --key pki\/\S+$/);
    const plain = await runCli(["init", path.join(base, "plain-grid"), "--monitor-port", "0"], { cwd: base, env: { npm_command: undefined } });
    // All in one terminal: the deployment in the background first, the commands that need it after, 'wms down' last.
    expect(steps[0]).toMatch(/^ {2}wms up --detach +# in the background/);
    expect(steps[steps.length - 1]).toMatch(/^ {2}wms down +#/);
    expect(plain.stdout).toMatch(/^ {2}wms up --detach +# /m);
    expect(plain.stdout).not.toContain("npm link");
  });

  it("writes up.monitorPort 0, saying so, when the default port 8080 is taken on this machine", { timeout: INIT_TEST_MS }, async () => {
    // Taken here for the run, or by something else already: either way wms up would refuse it.
    const holder = createServer();
    await new Promise<void>((resolve) => {
      holder.once("error", () => resolve());
      holder.listen(8080, "127.0.0.1", () => resolve());
    });
    try {
      const r = await runCli(["init", path.join(base, "busy-port"), "--json"], { cwd: base });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe("wms: warning: 127.0.0.1:8080 is in use on this machine: wms.yaml gets up.monitorPort 0 (wms up picks a free port and prints it); give --monitor-port for a fixed one\n");
      const { config } = loadConfig({ path: (JSON.parse(r.stdout) as { configFile: string }).configFile, env: {} });
      expect(config.up.monitorPort).toBe(0);
    } finally {
      await new Promise<void>((resolve) => (holder.listening ? holder.close(() => resolve()) : resolve()));
    }
  });

  it("suggests npx wms for a folder inside the clone, wms after npm link for one outside it, and wms as run", () => {
    const clone = path.join(base, "clone");
    expect(wmsCommandIn(path.join(clone, "mygrid"), "npx wms", clone)).toEqual({ wms: "npx wms" });
    expect(wmsCommandIn(clone, "npx wms", clone)).toEqual({ wms: "npx wms" });
    expect(wmsCommandIn(path.join(base, "clone-sibling"), "npx wms", clone)).toEqual({ wms: "wms", setup: expect.stringMatching(/^\(cd \S+\/clone && npm link\)/) });
    expect(wmsCommandIn("/elsewhere/grid", "wms", clone)).toEqual({ wms: "wms" });
  });

  it("places the sample data where its catalog says, with the sizes and checksums it lists", () => {
    const { config } = loadConfig({ path: path.join(dir, "wms.yaml"), env: {} });
    const sites = new Map(SiteConfig.parse(readDataFile(config.sitesFile as string)).sites.map((s) => [s.name, s.storagePath]));
    const catalog = ReplicaCatalog.parse(readDataFile(config.up.catalogs[0]));
    expect(catalog.datasets.map((d) => d.name)).toEqual(["examples.ds000", "examples.ds001"]);
    for (const f of catalog.datasets.flatMap((d) => d.files)) {
      for (const site of f.sites) {
        const body = readFileSync(path.join(sites.get(site) as string, f.lfn));
        expect([body.length, adler32(body), createHash("md5").update(body).digest("hex")]).toEqual([f.size, f.adler32, f.md5]);
      }
    }
  });

  it("makes a PKI whose pilot and production certificates chain to its CA, keys private", () => {
    const { config } = loadConfig({ path: path.join(dir, "wms.yaml"), env: {} });
    const trust = loadTrust(config.pki.dir);
    for (const cert of [config.pilot.cert as string, config.up.delegate[0].cert]) {
      expect(() => verifyChain([readFileSync(cert, "utf8")], trust)).not.toThrow();
    }
    for (const key of [config.pilot.key as string, config.up.delegate[0].key]) expect((statSync(key).mode & 0o777).toString(8)).toBe("600");
  });

  it("gives the local user an operator certificate where wms factory set looks for it by default", () => {
    const { config } = loadConfig({ path: path.join(dir, "wms.yaml"), env: {} });
    const cert = path.join(config.pki.dir, "users", "operator.cert.pem");
    const id = verifyChain([readFileSync(cert, "utf8")], loadTrust(config.pki.dir));
    expect(id.roles).toContain("operator");
    expect(id.kind).toBe("user");
    expect(id.dn).toMatch(/^\/DC=org\/DC=pilot-wms\/OU=Operators\/CN=./);
    expect((statSync(path.join(config.pki.dir, "users", "operator.key.pem")).mode & 0o777).toString(8)).toBe("600");
  });

  it("refuses a folder it already set up, in one line with a code, and changes nothing", async () => {
    const before = readFileSync(path.join(dir, "wms.yaml"), "utf8");
    const r = await runCli(["init", dir], { cwd: base });
    // As pki init and secrets init: the command line names a target in use (E1008, exit 2).
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^wms: error E1008 USAGE: .*already holds wms\.yaml/);
    expect(readFileSync(path.join(dir, "wms.yaml"), "utf8")).toBe(before);
    expect(readdirSync(dir).sort()).toEqual(["catalog.yaml", "factory.yaml", "pki", "sites.yaml", "storage", "tasks", "wms.yaml"]);
    expect(existsSync(path.join(dir, ".wms"))).toBe(false);
  });

  // CLI processes: 8.7 s of the default 30 s in a loaded fresh-clone CI run.
  it("tells wms up and wms status in a folder without wms.yaml to run wms init first, as E1005 NOT_FOUND", async () => {
    const empty = mkdtempSync(path.join(base, "empty-"));
    for (const cmd of ["up", "status"]) {
      const r = await runCli([cmd], { cwd: empty, env: { WMS_CONFIG: undefined } });
      expect(r.code, cmd).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/^wms: error E1005 NOT_FOUND: .*no wms\.yaml here: run 'wms init DIR'/);
    }
    expect(readdirSync(empty)).toEqual([]);
  }, 90_000);

  // CLI processes: 8.5 s of the default 30 s in a loaded fresh-clone CI run.
  it("refuses a file for its folder and a namespace wms.yaml could not hold, as usage errors, writing nothing", async () => {
    const file = path.join(dir, "tasks", "simple-job.yaml");
    const onFile = await runCli(["init", file], { cwd: base });
    expect(onFile.code).toBe(2);
    expect(onFile.stderr.trim().split("\n")).toHaveLength(1);
    expect(onFile.stderr).toMatch(/^wms: error E1008 USAGE: .*simple-job\.yaml is a file, not a folder/);
    const badNs = path.join(base, "bad-ns");
    const r = await runCli(["--namespace", "My Grid!", "init", badNs], { cwd: base });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^wms: error E1008 USAGE: .*--namespace 'My Grid!': lower-case/);
    expect(existsSync(badNs)).toBe(false);
    // The same check for every command that loads a config: the command line is wrong, not wms.yaml.
    const list = await runCli(["--namespace", "My Grid!", "job", "list"], { cwd: base });
    expect(list.code).toBe(2);
    expect(list.stderr).toMatch(/^wms: error E1008 USAGE: .*--namespace 'My Grid!': lower-case[^\n]*\n$/);
  }, 90_000);

  it("fails at once, in one coded line, where no folder can be made: procfs, sysfs, under a file; init, pki init, secrets init, pki export and issue, credentials rotate-key alike", { timeout: 90_000 }, async () => {
    const file = path.join(dir, "sites.yaml");
    const cases: Array<[string[], number, RegExp]> = [
      // procfs answers ENOENT to a mkdir in it, which Node's recursive mkdir retried forever.
      [["init", "/proc/wms-init-test/grid"], 1, /^wms: error E1015 FOLDER_UNCREATABLE: .*cannot make \/proc\/wms-init-test: ENOENT/],
      [["init", "/sys/wms-init-test"], 1, /^wms: error E1015 FOLDER_UNCREATABLE: .*cannot make \/sys\/wms-init-test: (EPERM|EROFS|EACCES)/],
      [["init", path.join(file, "grid")], 2, /^wms: error E1008 USAGE: .*sites\.yaml is a file, not a folder/],
      [["pki", "init", "--dir", "/proc/wms-init-test"], 1, /^wms: error E1015 FOLDER_UNCREATABLE: /],
      [["secrets", "init", "--dir", "/proc/wms-init-test"], 1, /^wms: error E1015 FOLDER_UNCREATABLE: /],
      // Commands that write into a folder named for them: the export spun like init did.
      [["pki", "export", "--dir", path.join(dir, "pki"), "intake=/proc/wms-init-test"], 1, /^wms: error E1015 FOLDER_UNCREATABLE: .*cannot make \/proc\/wms-init-test: ENOENT/],
      [["pki", "issue", "--dir", path.join(dir, "pki"), "--kind", "user", "--dn", "/DC=org/CN=Test", "--out", "/proc/wms-init-test/u"], 1, /^wms: error E1015 FOLDER_UNCREATABLE: /],
      // Was E1000 INTERNAL, naming its temporary file.
      [["credentials", "rotate-key", "--keyring", "/proc/wms-init-test/keyring.json"], 1, /^wms: error E1015 FOLDER_UNCREATABLE: .*cannot make \/proc\/wms-init-test: ENOENT/],
    ];
    for (const [args, code, line] of cases) {
      const t0 = Date.now();
      const r = await runCli(args, { cwd: base, timeoutMs: 20_000 });
      expect([r.code, r.stderr.trim().split("\n").length], `${args.join(" ")} (${Date.now() - t0} ms): ${r.stderr}`).toEqual([code, 1]);
      expect(r.stderr).toMatch(line);
    }
    expect(readdirSync(dir).sort()).toEqual(["catalog.yaml", "factory.yaml", "pki", "sites.yaml", "storage", "tasks", "wms.yaml"]);
  });
});
