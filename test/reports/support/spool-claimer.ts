// A pilot's publisher caught mid-send: claims every file of the spool folder given as argv[2], says
// "claimed <n>" and waits to be killed, as a pilot the batch system kills before the broker confirms.
import { ReportSpool } from "../../../agents/reports/report-spool.ts";

const spool = new ReportSpool(process.argv[2]);
const got = await spool.claim(await spool.oldest(10_000));
process.stdout.write(`claimed ${got.length}\n`);
setInterval(() => undefined, 60_000);
