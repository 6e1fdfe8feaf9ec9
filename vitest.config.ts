import { defineConfig } from "vitest/config";

// Tests talk to real NATS/Redis/RabbitMQ; each uses its own namespace so files run in parallel.
// Three projects, chosen by file name (test/README.md):
//   unit         *.unit.test.ts: no service, no network; `npm run test:unit`
//   integration  every other *.test.ts: the real services on loopback; `npm test` runs unit + this
//   heavy        *.heavy.test.ts and test/faults/: long fault, cluster and scale-out runs; only
//                `npm run test:all` (what CI runs) includes them
const HEAVY = ["test/**/*.heavy.test.ts", "test/faults/**/*.test.ts"];
// One private NATS/Redis/RabbitMQ trio with authentication on for the run, each test connecting as
// the role it plays (test/support/auth-run.ts, test-roles.ts); WMS_TEST_SERVICES=shared opts out
// (the machine's services, anonymous). Only projects that talk to services start it, and only when
// they have a file to run: unit runs never do. A global set-up has no time limit in vitest; the
// trio's start (RabbitMQ's boot, up to 90 s at load: startPrivateRabbit) is bounded there.
const AUTH_RUN = "test/support/auth-run.ts";

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // expect.poll waits for something another process or a timer brings about; vitest's default of
    // 1 s is a race on a loaded 2-core CI machine. A poll only waits this long when the thing is late
    // or never comes, so a generous bound costs a passing test nothing. A poll that must see
    // something soon says so with its own timeout.
    expect: { poll: { timeout: 15_000 } },
    pool: "forks",
    // Vitest's default on this 2-core machine is one worker (cpus - 1), so every file ran alone: the
    // 2,127 s fresh-clone CI run of 2026-12-03 was the plain sum of its files'. Unit and integration
    // files mostly wait on servers and child processes, so three run at once; the heavy project runs
    // its files one at a time, alone, after them (singleFork below).
    maxWorkers: 3,
    reporters: ["default"],
    // CLI tests start `bin/wms.mjs`, which runs the compiled dist/: bring it up to date first.
    globalSetup: ["test/support/build-dist.ts"],
    projects: [
      { extends: true, test: { name: "unit", include: ["test/**/*.unit.test.ts"] } },
      // A fixture's set-up (a PKI's RSA keys, services, a pilot's stage) passed 30 s at load 45
      // (pilot-run.test.ts' fixture); a hook only runs that long on a loaded machine or when broken.
      { extends: true, test: { name: "integration", include: ["test/**/*.test.ts"], exclude: ["test/**/*.unit.test.ts", ...HEAVY], globalSetup: [AUTH_RUN], hookTimeout: 120_000 } },
      // A heavy file's set-up (a test stage, private servers) took ~30 s at load 45: the default hook limit.
      // singleFork: its files run one after another in one worker, once the other projects' files are
      // done (vitest runs a pool's single-fork files after its parallel ones), so a fault run's leases
      // and heartbeats, a cluster's failover and a scale-out run never share the 2 cores with another file.
      { extends: true, test: { name: "heavy", include: HEAVY, globalSetup: [AUTH_RUN], hookTimeout: 120_000, poolOptions: { forks: { singleFork: true } } } },
    ],
  },
});
