/**
 * `etc-lane audit list` and `etc-lane audit verify`: the lane's tamper-evident audit log.
 * verify exits 1 and names the first line that breaks the chain.
 */
import type { Command } from "commander";
import { readAuditLog, verifyAuditLog } from "../../audit/audit-log.js";
import { UsageError } from "../run-cli.js";

interface Opts {
  dataDir: string;
  json?: boolean;
  since?: string;
}

export function registerAudit(program: Command): void {
  const audit = program.command("audit").description("the lane's tamper-evident audit log");
  const dataDirDefault = process.env.ETC_LANE_DATA_DIR ?? "./data";
  audit
    .command("list")
    .description("list audit entries, oldest first")
    .option("--data-dir <dir>", "lane data directory", dataDirDefault)
    .option("--json", "one JSON object per line")
    .option("--since <iso>", "entries at/after this time")
    .action((o: Opts) => {
      let since: Date | undefined;
      if (o.since !== undefined) {
        since = new Date(o.since);
        if (Number.isNaN(since.getTime()))
          throw new UsageError(`--since: expected an ISO date/time, got "${o.since}"`);
      }
      for (const e of readAuditLog(o.dataDir, since ? { since } : {})) {
        if (o.json) process.stdout.write(`${JSON.stringify(e)}\n`);
        else {
          const data = e.data && e.type !== "audit.seal" ? ` ${JSON.stringify(e.data)}` : "";
          process.stdout.write(
            `${String(e.i).padStart(6)}  ${e.ts}  ${e.severity.padEnd(5)}  ${e.type.padEnd(22)} ${e.message}${data}\n`,
          );
        }
      }
    });
  audit
    .command("verify")
    .description("check the hash chain and seals; exit code 1 with the first bad line")
    .option("--data-dir <dir>", "lane data directory", dataDirDefault)
    .option("--json", "print the result as JSON")
    .action((o: Opts) => {
      const r = verifyAuditLog(o.dataDir);
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else if (r.ok) {
        process.stdout.write(
          `audit log OK: ${r.entries} entries, ${r.seals} valid seal(s), ${r.unsealed} entries after the last seal\n`,
        );
      } else {
        process.stdout.write(`audit log BROKEN at line ${r.line} (entry ${r.firstBadIndex}): ${r.reason}\n`);
      }
      if (!r.ok) process.exitCode = 1;
    });
}
