/**
 * Child process for lock.test.ts and the status-list CLI test: take the data-directory lock of
 * <dataDir> as <role> <command>, print "locked <pid>", and hold it until killed (or until stdin ends,
 * then release and exit).
 */
import { acquireDataDirLock } from "../../src/datadir/lock.js";

const [dataDir, role, command] = process.argv.slice(2) as [string, "lane" | "cli", string];
const lock = acquireDataDirLock(dataDir, { role, command });
process.stdout.write(`locked ${process.pid}\n`);
const keepAlive = setInterval(() => {}, 60_000);
process.stdin.on("end", () => {
  lock.release();
  clearInterval(keepAlive);
});
process.stdin.resume();
