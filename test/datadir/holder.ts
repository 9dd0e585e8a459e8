/** Start a child process that holds a data directory's lock (lock-child.ts); resolves once it holds it. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { DataDirHolder } from "../../src/datadir/lock.js";

const child = fileURLToPath(new URL("./lock-child.ts", import.meta.url));
const root = fileURLToPath(new URL("../../", import.meta.url));

export interface Holder {
  pid: number;
  proc: ChildProcess;
  /** SIGKILL it and wait for its exit */
  kill(): Promise<void>;
}

/**
 * `under`: a command line that runs the child, e.g. unshare's (its own pid namespace): `pid` is then the
 * child's pid as it prints it, in that namespace.
 */
export function holdLock(
  dataDir: string,
  role: "lane" | "cli",
  command: string,
  o: { under?: string[] } = {},
): Promise<Holder> {
  const [exe, ...args] = [
    ...(o.under ?? []),
    process.execPath,
    "--import",
    "tsx",
    child,
    dataDir,
    role,
    command,
  ];
  const proc = spawn(exe as string, args, {
    cwd: root,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    proc.stderr?.setEncoding("utf8").on("data", (s: string) => {
      err += s;
    });
    proc.once("exit", (code, signal) =>
      reject(new Error(`lock holder exited (${signal ?? code}) before it held the lock: ${err}`)),
    );
    proc.stdout?.setEncoding("utf8").on("data", (s: string) => {
      out += s;
      const m = /^locked (\d+)$/m.exec(out);
      if (m)
        resolve({
          pid: Number(m[1]),
          proc,
          kill: async () => {
            proc.kill("SIGKILL");
            await exited;
          },
        });
    });
  });
}

/** A lane's holder file written on another host (lane3-standby): a lock held from there, as this host reads it. */
export const STANDBY_HOLDER: DataDirHolder = {
  pid: 4242,
  role: "lane",
  command: "lane 4301-0102-03",
  argv: "node etc-lane.js run --config /etc/etc-lane/lane.yaml",
  since: "2026-12-06T08:00:00.000Z",
  host: "lane3-standby",
  token: "00",
};
