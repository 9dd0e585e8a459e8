/**
 * The simulated booth reader in its own process (./reader-child.ts): the caller opens `lanePath` as the
 * lane's reader port, puts cards on the reader with present(), and hears the lane's beeps.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ParentToReaderChild, ReaderChildPlan, ReaderChildToParent } from "./reader-child.js";

export { benchCardId, type ReaderChildPlan } from "./reader-child.js";

export interface ReaderProcess {
  readonly lanePath: string;
  present(cardId: string): void;
  onSignal(cb: (led: string) => void): void;
  /** bytes that crossed the paced line so far (lane -> reader, reader -> lane) */
  lineBytes(): Promise<{ rx: number; tx: number }>;
  close(): Promise<void>;
}

export async function startReaderProcess(plan: ReaderChildPlan): Promise<ReaderProcess> {
  const fromSource = import.meta.url.endsWith(".ts");
  const child: ChildProcess = fork(
    fileURLToPath(new URL(fromSource ? "./reader-child.ts" : "./reader-child.js", import.meta.url)),
    [],
    { execArgv: fromSource ? ["--import", "tsx"] : [], stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  const post = (m: ParentToReaderChild): void => {
    if (child.connected) child.send(m);
  };
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let signal: (led: string) => void = () => {};
  let line: ((b: { rx: number; tx: number }) => void) | undefined;
  const lanePath = await new Promise<string>((resolve, reject) => {
    child.on("message", (m: ReaderChildToParent) => {
      if (m.type === "ready") resolve(m.lanePath);
      else if (m.type === "signal") signal(m.led);
      else if (m.type === "line") line?.({ rx: m.rx, tx: m.tx });
      else if (m.type === "error") reject(new Error(`simulated reader process: ${m.message}`));
    });
    child.once("exit", (code, sig) => reject(new Error(`simulated reader process exited (${sig ?? code})`)));
    post({ type: "plan", plan });
  });
  return {
    lanePath,
    present: (cardId) => post({ type: "present", cardId }),
    onSignal(cb) {
      signal = cb;
    },
    lineBytes: () =>
      new Promise((resolve) => {
        line = resolve;
        post({ type: "line?" });
      }),
    async close() {
      post({ type: "stop" });
      const t = setTimeout(() => child.kill("SIGTERM"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
