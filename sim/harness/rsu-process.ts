/**
 * The simulated RSU in its own process (./rsu-child.ts), zero air time by default and traffic as fast
 * as the lane answers, on a pseudo-terminal the child makes in process: the caller opens `lanePath`
 * with its lane. Used by the lane benchmark (test/bench/lane.ts) and the station-outage scenario
 * (./station-outage.ts: test/bench/outage.ts, test/reliability/system/outage-run.ts). The CLI
 * (`etc-sim rsu`) keeps the real DSRC times; this serves back to back.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ChildToParent, ParentToChild, RsuChildPlan, RsuChildReport } from "./rsu-child.js";

export type { RsuChildPlan, RsuChildReport } from "./rsu-child.js";

export interface RsuProcess {
  /** the pty end the lane opens */
  readonly lanePath: string;
  readonly pid: number | undefined;
  /** start the traffic (call when the lane is open) */
  go(): void;
  /** resolves with the simulator's counters once every vehicle is finished */
  readonly done: Promise<RsuChildReport>;
  onProgress(cb: (finished: number) => void): void;
  /** stop the simulator (its pty goes with it) */
  close(): Promise<void>;
}

/** Forks the simulator; resolves once it has made its pty and waits for C0. */
export async function startRsuProcess(plan: RsuChildPlan): Promise<RsuProcess> {
  const fromSource = import.meta.url.endsWith(".ts");
  const child: ChildProcess = fork(
    fileURLToPath(new URL(fromSource ? "./rsu-child.ts" : "./rsu-child.js", import.meta.url)),
    [],
    { execArgv: fromSource ? ["--import", "tsx"] : [], stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  const post = (m: ParentToChild): void => {
    if (child.connected) child.send(m);
  };
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let progress: (n: number) => void = () => {};
  let readyOk!: (lanePath: string) => void;
  let doneOk!: (r: RsuChildReport) => void;
  const failers: ((e: Error) => void)[] = [];
  const ready = new Promise<string>((res, rej) => {
    readyOk = res;
    failers.push(rej);
  });
  const done = new Promise<RsuChildReport>((res, rej) => {
    doneOk = res;
    failers.push(rej);
  });
  done.catch(() => {});
  const fail = (e: Error): void => {
    for (const f of failers) f(e);
  };
  child.on("message", (m: ChildToParent) => {
    if (m.type === "ready") readyOk(m.lanePath);
    else if (m.type === "progress") progress(m.finished);
    else if (m.type === "done") doneOk(m.report);
    else if (m.type === "error") fail(new Error(`simulated RSU process: ${m.message}`));
  });
  child.once("exit", (code, signal) => fail(new Error(`simulated RSU process exited (${signal ?? code})`)));
  post({ type: "plan", plan });
  const lanePath = await ready;
  return {
    lanePath,
    pid: child.pid,
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
    },
  };
}
