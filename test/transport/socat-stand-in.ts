/**
 * A stand-in for `socat -d -d pty,raw,echo=0 pty,raw,echo=0` where socat is not installed: two raw
 * pseudo-terminals relayed by this process (firmware-bridge/transport/pty.ts createPtyPair), announced
 * on stderr as socat announces its own ("... N PTY is /dev/pts/N"), running until SIGTERM. It lets
 * test/transport/pty.test.ts exercise the socat backend (spawn, the announcement, the pair, the kill on
 * close) on a machine without socat; socat's own relaying is socat's.
 */
import { createPtyPair } from "../../firmware-bridge/transport/pty.js";

const args = process.argv.slice(2);
if (args.join(" ") !== "-d -d pty,raw,echo=0 pty,raw,echo=0") {
  process.stderr.write(`socat stand-in: unexpected arguments: ${args.join(" ")}\n`);
  process.exit(2);
}
const pair = await createPtyPair({ backend: "node-pty" });
const stamp = (): string => new Date().toISOString().replace("T", " ").slice(0, 19);
for (const path of [pair.lanePath, pair.devicePath])
  process.stderr.write(`${stamp()} socat[${process.pid}] N PTY is ${path}\n`);
process.stderr.write(`${stamp()} socat[${process.pid}] N starting data transfer loop\n`);
process.once("SIGTERM", () => {
  void pair.close().then(() => process.exit(0));
});
