// The examples every `wms ... --help` ends with, keyed by the command's path. One table, not an
// `addHelpText` in each command's file: a newcomer reads the commands side by side, and the
// examples of a group only stay alike (deployment-folder paths, `wms init`'s file names, the same
// task ids) when they sit together. test/cli-help-examples.unit.test.ts checks every command has
// some, each naming its own command, and that no entry names a command that is gone.
// Paths are those of a folder `wms init` made (pki/users/production.*.pem, tasks/, SITE_A-local).

export const COMMAND_EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  "": [
    "wms init mygrid && cd mygrid && wms up --detach",
    "wms task submit tasks/data-local-job.yaml && wms task status T1 --watch",
    "wms job list --state failed && wms job log T1.000003",
    "wms help task submit   # any command's help, however deep",
  ],
  init: ["wms init mygrid && cd mygrid && wms up --detach", "wms init mygrid --monitor-port 0   # the dashboard on any free port (8080 taken)"],
  up: [
    "wms init mygrid && cd mygrid && wms up",
    "wms up --detach && wms status && wms down",
    'wms up --detach --json   # {"pid":...,"namespace":...,"monitorUrl":...,"logFile":...}',
  ],
  status: ["wms status", "wms status --json"],
  down: ["wms down", "wms down --purge          # asks first", "wms down --purge --yes --json"],
  services: ["wms services check", "WMS_IDENTITY_FILE=.wms/secrets/operator/identity.yaml wms services check --json"],
  "services check": ["wms services check", "WMS_IDENTITY_FILE=.wms/secrets/operator/identity.yaml wms services check --json"],
  errors: ["wms errors 2400", "wms errors PAYLOAD_MEMORY_EXCEEDED", "wms errors --category credentials --json", "wms errors summary"],
  "errors summary": ["wms errors summary", "wms errors summary --json"],
  schemas: ["wms schemas write", "wms schemas check --json"],
  "schemas write": ["wms schemas write   # npm run schemas"],
  "schemas check": ["wms schemas check", "wms schemas check --json"],
  classad: ["wms classad eval --target '[ Memory = 4096 ]' 'TARGET.Memory > 2048'", "wms classad match '[ Requirements = TARGET.Memory > 2048 ]' '[ Memory = 4096; Requirements = true ]'"],
  "classad eval": ["wms classad eval '1 + 2.5'", "wms classad eval --my '[ Cpus = 8 ]' --target '[ Memory = 4096 ]' 'Cpus * 2 + TARGET.Memory'", "echo 'strcat(\"a\", \"b\")' | wms classad eval"],
  "classad match": [
    "wms classad match '[ Requirements = TARGET.Memory > 2048; Rank = TARGET.Memory ]' '[ Memory = 4096; Requirements = true ]'",
    "printf '[ Requirements = true ]\\t[ Memory = 1 ]\\n' | wms classad match --batch",
  ],
  "classad analyze": ["wms classad analyze '[ Requirements = TARGET.Memory > 2048 && TARGET.Cpus >= 4 ]' --machines machines.ads", "condor_status -long > machines.txt && wms classad analyze @job.ad --machines machines.txt --json"],
  "classad parse": ["wms classad parse 'a+b*2'", "wms classad parse '[ x = 1; y = x + 1 ]' --json"],
  pki: ["wms pki init --dir pki", "wms pki issue --dir pki --kind user --dn '/DC=org/DC=pilot-wms/CN=Jane Doe' --role production"],
  "pki init": ["wms pki init --dir pki", "wms pki init --dir pki --vo atlas --json"],
  "pki issue": [
    "wms pki issue --dir pki --kind user --dn '/DC=org/DC=pilot-wms/CN=Jane Doe' --role production --group /atlas/prod --out jane",
    "wms pki issue --dir pki --kind user --dn '/DC=org/DC=pilot-wms/CN=Site Ops' --role operator --out ops",
  ],
  "pki revoke": ["wms pki revoke --dir pki --cert jane.cert.pem --reason keyCompromise", "wms pki revoke --dir pki --serial 0a1b2c --json"],
  "pki crl": ["wms pki crl --dir pki", "wms pki crl --dir pki --json"],
  "pki export": ["wms pki export --dir pki matchmaker=/etc/wms/matchmaker/pki credentials=/etc/wms/credentials/pki"],
  "pki rotate-seal-key": ["wms pki rotate-seal-key --dir pki", "wms pki rotate-seal-key --dir pki --purpose one-time-key --json"],
  secrets: ["wms secrets init --dir .wms/secrets", "WMS_IDENTITY_FILE=.wms/secrets/matchmaker/identity.yaml wms matchmaker"],
  "secrets init": ["wms secrets init --dir .wms/secrets", "wms secrets init --dir .wms/secrets --json"],
  proxy: ["wms proxy init --cert jane.cert.pem --key jane.key.pem", "wms proxy info --cert jane.cert.pem --key jane.key.pem"],
  "proxy init": ["wms proxy init --cert jane.cert.pem --key jane.key.pem --retriever role:pilot --min-left 24", "wms proxy init --cert jane.cert.pem --key jane.key.pem --lifetime 72 --out /tmp/x509up_jane"],
  "proxy info": ["wms proxy info --cert jane.cert.pem --key jane.key.pem", "wms proxy info --cert jane.cert.pem --key jane.key.pem --json"],
  credentials: ["WMS_CREDENTIAL_KEY=$(openssl rand -base64 32) wms credentials serve", "wms credentials rotate-key --reseal"],
  "credentials serve": ["WMS_CREDENTIAL_KEY=$(openssl rand -base64 32) wms credentials serve", "WMS_IDENTITY_FILE=.wms/secrets/credentials/identity.yaml wms credentials serve --spool-dir /var/spool/wms"],
  "credentials rotate-key": ["wms credentials rotate-key --keyring keyring.json", "wms credentials rotate-key --reseal --json"],
  site: ["wms site list", "wms site authz check --site SITE_A --dn '/DC=org/CN=Jane Doe' --vo atlas"],
  "site list": ["wms site list", "wms site list --sites-file sites.yaml --json"],
  "site pool": ["WMS_IDENTITY_FILE=.wms/secrets/pool-leases/identity.yaml wms site pool serve"],
  "site pool serve": ["WMS_IDENTITY_FILE=.wms/secrets/pool-leases/identity.yaml wms site pool serve", "wms site pool serve --sites-file sites.yaml"],
  "site authz": ["wms site authz check --site SITE_A --dn '/DC=org/CN=Jane Doe' --vo atlas"],
  "site authz check": [
    "wms site authz check --site SITE_A --dn '/DC=org/CN=Jane Doe' --vo atlas",
    "wms site authz check --site SITE_A --dn '/DC=org/CN=Jane Doe' --vo atlas --role /atlas/Role=production --walltime 3600 --json",
  ],
  replica: ["wms replica add mc.ds1 --site SITE_A --from-dir /data/SITE_A/mc.ds1", "wms replica list mc.ds1"],
  "replica add": ["wms replica add mc.ds1 --site SITE_A --from-dir /data/SITE_A/mc.ds1", "wms replica add mc.ds1 --site SITE_A --site SITE_B --file mc.ds1/f1.root:1024:0a1b2c3d:9e107d9d372bb6826bd81d3542a419d6"],
  "replica list": ["wms replica list", "wms replica list mc.ds1 --json"],
  "replica load": ["wms replica load catalog.yaml", "wms replica load catalog.json --json"],
  task: ["wms task submit tasks/data-local-job.yaml", "wms task status T1 --watch", "wms task retry T1"],
  "task submit": [
    "wms task submit tasks/data-local-job.yaml   # signed with pki/users/production.*.pem",
    "wms task submit task.yaml --cert jane.cert.pem --key jane.key.pem --json",
  ],
  "task status": ["wms task status T1", "wms task status T1 --watch --exit-status", "wms task status T1 --json"],
  "task list": ["wms task list", "wms task list --limit 10 --json"],
  "task cancel": ["wms task cancel T1", "wms task cancel T1 --cert jane.cert.pem --key jane.key.pem --json"],
  "task retry": ["wms job list --task T1 --state failed && wms task retry T1", "wms task retry T1 --cert jane.cert.pem --key jane.key.pem --json"],
  job: ["wms job list --state failed", "wms job show T1.000042", "wms job log T1.000042"],
  "job log": ["wms job log T1.000042", "wms job log T1.000042 --attempt 1 --json"],
  "job list": ["wms job list --state failed --code PAYLOAD_MEMORY_EXCEEDED", "wms job list --task T1 --site SITE_A --json --page 2"],
  "job show": ["wms job show T1.000042", "wms job show T1.000042 --json"],
  intake: ["wms intake serve", "WMS_IDENTITY_FILE=.wms/secrets/intake/identity.yaml wms intake serve --sites-file sites.yaml"],
  "intake serve": ["wms intake serve", "WMS_IDENTITY_FILE=.wms/secrets/intake/identity.yaml wms intake serve --sites-file sites.yaml"],
  matchmaker: ["wms matchmaker", "wms matchmaker --instances 3 --metrics-port 9101"],
  pilot: ["wms pilot --site SITE_A --token-file token --walltime 3600", "wms pilot list --site SITE_A"],
  "pilot list": ["wms pilot list", "wms pilot list --site SITE_A --state running --json"],
  factory: ["wms factory status", "wms factory set SITE_A-local pilotsPerMinute=30 maxPending=5", "wms factory run --factory-file factory.yaml"],
  "factory run": ["wms factory run --factory-file factory.yaml", "wms factory run --once --json"],
  "factory set": [
    "wms factory set SITE_A-local pilotsPerMinute=30 maxPending=5",
    "wms factory set SITE_A-local pilotsPerMinute=0   # no new pilots for SITE_A; those running go on",
    "wms factory set SITE_B-local maxRunning=20 --factory-file factory.yaml   # and keep it in the file",
  ],
  "factory status": ["wms factory status", "wms factory status --factory examples-factory --json"],
  agents: ["wms agents", "wms agents --only job-state,accounting --prefetch 64"],
  accounting: ["wms accounting report --by site"],
  "accounting report": ["wms accounting report", "wms accounting report --by site --json"],
  monitor: ["wms monitor --port 8080", "wms monitor --port 0   # any free port, logged"],
  demo: ["wms demo", "wms demo --jobs 200 --sites 3 --pilots 6 --monitor-port 8081", "wms demo --shared-services --json"],
};

/** The lines `--help` ends with for `path` ("" for `wms` itself), or undefined when it has none. */
export function examplesHelp(path: string): string | undefined {
  const lines = COMMAND_EXAMPLES[path];
  // No newline at the end: commander adds one after each help text.
  return lines === undefined ? undefined : `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}`;
}
