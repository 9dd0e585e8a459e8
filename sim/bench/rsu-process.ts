/**
 * The parent side of ./rsu-child.ts: a socat pty pair, the simulated RSU forked onto its device end,
 * and the lane end's path for the caller's transport. Used by the lane benchmarks.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createPtyPair, type PtyPair } from "../../firmware-bridge/transport/pty.js";
import type { ChildToParent, ParentToChild, RsuChildPlan, RsuChildReport } from "./rsu-child.js";

export type { RsuChildPlan, RsuChildReport } from "./rsu-child.js";

export interface RsuProcess {
  /** the pty end the lane opens */
  readonly lanePath: string;
  readonly pid: number | undefined;
  /** resolves once the simulator has opened its end and waits for C0 */
  readonly ready: Promise<void>;
  /** start the traffic (call when the lane is open) */
  go(): void;
  /** resolves with the simulator's counters once every vehicle is finished */
  readonly done: Promise<RsuChildReport>;
  onProgress(cb: (finished: number) => void): void;
  /** stop the simulator, then socat */
  close(): Promise<void>;
}

export async function startRsuProcess(plan: Omit<RsuChildPlan, "devicePath">): Promise<RsuProcess> {
  const pty: PtyPair = await createPtyPair();
  const child: ChildProcess = fork(fileURLToPath(new URL("./rsu-child.js", import.meta.url)), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const post = (m: ParentToChild): void => {
    if (child.connected) child.send(m);
  };
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let progress: (n: number) => void = () => {};
  let readyOk!: () => void;
  let doneOk!: (r: RsuChildReport) => void;
  let fail!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    readyOk = res;
    fail = rej;
  });
  const done = new Promise<RsuChildReport>((res, rej) => {
    doneOk = res;
    const prev = fail;
    fail = (e) => {
      prev(e);
      rej(e);
    };
  });
  done.catch(() => {});
  child.on("message", (m: ChildToParent) => {
    if (m.type === "ready") readyOk();
    else if (m.type === "progress") progress(m.finished);
    else if (m.type === "done") doneOk(m.report);
    else if (m.type === "error") fail(new Error(`simulated RSU process: ${m.message}`));
  });
  child.once("exit", (code, signal) => fail(new Error(`simulated RSU process exited (${signal ?? code})`)));
  post({ type: "plan", plan: { ...plan, devicePath: pty.devicePath } });
  return {
    lanePath: pty.lanePath,
    pid: child.pid,
    ready,
    go: () => post({ type: "go" }),
    done,
    onProgress(cb) {
      progress = cb;
    },
    async close() {
      post({ type: "stop" });
      const t = setTimeout(() => child.kill("SIGTERM"), 5000);
      await exited;
      clearTimeout(t);
      await pty.close();
    },
  };
}
