import type { Command } from "commander";
import { action, checkNamespaceOption, parseIntOption, parsePortOption, printJson, warn, wmsCommandIn } from "../command-kit.ts";

export function registerInit(program: Command): void {
  program
    .command("init")
    .description("write a starter deployment folder: wms.yaml, sites, factory queues, sample data and its catalog, example tasks, a PKI; then run 'wms up' there")
    .argument("[dir]", "the folder to set up (made if missing; must not hold a deployment yet)", ".")
    .option("--monitor-port <port>", "the dashboard's port under 'wms up' (0: any free port)", parsePortOption("--monitor-port"), 8080)
    .option("--matchmakers <n>", "matchmaker processes 'wms up' starts", parseIntOption("--matchmakers", 1), 2)
    .option("--json", "print what was written as JSON")
    .action(
      action(async (dir: string, opts: { monitorPort: number; matchmakers: number; json?: boolean }, cmd: Command) => {
        const { initDeployment } = await import("../../deployment/init-deployment.ts");
        const namespace = cmd.optsWithGlobals<{ namespace?: string }>().namespace;
        // Checked before anything is written: a namespace wms.yaml's schema refuses would make
        // every later command in the folder fail with E1002.
        checkNamespaceOption(namespace);
        // Progress on stderr, for a person; --json is for a script, which wants stdout's one object.
        const onProgress = opts.json ? undefined : (msg: string): void => void process.stderr.write(`wms init: ${msg}\n`);
        // The default dashboard port taken on this machine already (another deployment, any web
        // server): 'wms up' would refuse it after starting the services. Not given, it becomes 0,
        // said once the folder is written (a failure stays one line).
        const { portFree } = await import("../../platform/local-services.ts");
        const taken = cmd.getOptionValueSource("monitorPort") === "default" && !(await portFree(opts.monitorPort));
        const r = initDeployment({ dir, namespace, monitorPort: taken ? 0 : opts.monitorPort, matchmakers: opts.matchmakers, onProgress });
        if (taken) warn(`127.0.0.1:${opts.monitorPort} is in use on this machine: wms.yaml gets up.monitorPort 0 (wms up picks a free port and prints it); give --monitor-port for a fixed one`);
        if (opts.json) return printJson(r);
        const rel = (p: string): string => (p.startsWith(r.dir + "/") ? p.slice(r.dir.length + 1) : p);
        const { wms, setup } = wmsCommandIn(r.dir);
        process.stdout.write(
          `deployment in ${r.dir} (namespace ${r.namespace})\n` +
            `  wms.yaml, sites.yaml, factory.yaml, catalog.yaml, storage/, pki/, tasks/ (${r.tasks.map(rel).join(", ")})\n` +
            // Every step in this one terminal: `wms up` without --detach holds it until Ctrl-C.
            `next:\n${setup ? `  ${setup}\n` : ""}  cd ${r.dir}\n  ${`${wms} up --detach`.padEnd(22)} # in the background ('${wms} status'); or '${wms} up' in a terminal of its own, Ctrl-C stops it\n` +
            `  ${wms} task submit tasks/data-local-job.yaml --cert ${rel(r.productionCert.cert)} --key ${rel(r.productionCert.key)}\n` +
            `  ${wms} task status T1 --watch   # T1: the task ID submit printed\n` +
            `  ${wms} factory set SITE_A-local pilotsPerMinute=30   # signed with your operator certificate, ${rel(r.operatorCert.cert)}\n` +
            `  ${`${wms} down`.padEnd(22)} # stops everything 'wms up' started\n` +
            `  outputs: storage/<site>/<output dataset>/<job ID>/ (the task file's outputDataset)\n`,
        );
      }),
    );
}
