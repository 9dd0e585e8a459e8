/**
 * The simulated reader's scripted mode (docs/reader.md §8.2): steps run one after the other, e.g.
 * present card X, wait for the DEBIT, remove it, present card Y. Scripts come from a scenario file, from
 * the CLI's stdin (one step per line), or from a test calling `runScript`.
 */

import { createInterface } from "node:readline";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { READER_COMMANDS } from "../../firmware-bridge/reader/commands.js";
import { readerFaultSchema } from "./faults.js";
import type { ReaderSimEvent, ReaderSimulator } from "./reader-simulator.js";

const COMMAND_NAMES = READER_COMMANDS.map((c) => c.name) as [string, ...string[]];

const STEPS = {
  /** The card (by 20-digit id, from the card store) enters the field. */
  present: z.strictObject({ present: z.string().regex(/^[0-9]{20}$/, "expected a 20-digit card id") }),
  /** The card leaves the field. */
  remove: z.strictObject({ remove: z.literal(true) }),
  /** Pause (ms). */
  wait: z.strictObject({ wait: z.number().int().min(0).max(3_600_000) }),
  /** Until the reader has answered `count` more such commands (for APDUs: with this INS). */
  waitFor: z.strictObject({
    waitFor: z.strictObject({
      command: z.enum(COMMAND_NAMES),
      ins: z
        .string()
        .regex(/^[0-9a-fA-F]{2}$/, 'expected 2 hex digits, e.g. "54"')
        .transform((s) => Number.parseInt(s, 16))
        .optional(),
      count: z.number().int().min(1).default(1),
    }),
  }),
  /** Inject a fault (faults.ts). */
  fault: z.strictObject({ fault: readerFaultSchema }),
  /** End a `hold` fault: the replies held back are dropped; a hold not fired yet is disarmed. */
  release: z.strictObject({ release: z.literal(true) }),
} as const;

export const scriptStepSchema = z.union([
  STEPS.present,
  STEPS.remove,
  STEPS.wait,
  STEPS.waitFor,
  STEPS.fault,
  STEPS.release,
]);

export type ScriptStepInput = z.input<typeof scriptStepSchema>;
export type ScriptStep = z.output<typeof scriptStepSchema>;

export function parseScriptStep(input: unknown, where = "step"): ScriptStep {
  // Validate against the branch the step's key names, so the error names the real problem.
  const key = input && typeof input === "object" ? Object.keys(input)[0] : undefined;
  const branch = key !== undefined && key in STEPS ? STEPS[key as keyof typeof STEPS] : undefined;
  if (!branch) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `${where}: expected one of ${Object.keys(STEPS).join(", ")}, got ${JSON.stringify(input)}`,
    );
  }
  const r = branch.safeParse(input);
  if (r.success) return r.data as ScriptStep;
  const i = r.error.issues[0];
  throw new EtcError(
    ErrorCodes.ConfigInvalid,
    `${where}${i && i.path.length > 0 ? `.${i.path.join(".")}` : ""}: ${i?.message ?? "invalid"}`,
  );
}

/**
 * One step from a line of text: YAML/JSON (`{present: "4301..."}`) or words: `present ID`, `remove`,
 * `wait MS`, `fault KIND`, `waitFor COMMAND [INS]`, `release`.
 */
export function parseScriptLine(line: string): ScriptStep | undefined {
  const t = line.trim();
  if (t === "" || t.startsWith("#")) return undefined;
  if (t.startsWith("{")) return parseScriptStep(parseYaml(t), "line");
  const [word, ...rest] = t.split(/\s+/);
  switch (word) {
    case "present":
      return parseScriptStep({ present: rest[0] }, "line");
    case "remove":
      return parseScriptStep({ remove: true }, "line");
    case "wait":
      return parseScriptStep({ wait: Number(rest[0]) }, "line");
    case "fault":
      return parseScriptStep({ fault: { kind: rest[0] } }, "line");
    case "waitFor":
      return parseScriptStep({ waitFor: { command: rest[0], ...(rest[1] ? { ins: rest[1] } : {}) } }, "line");
    case "release":
      return parseScriptStep({ release: true }, "line");
    default:
      throw new EtcError(
        ErrorCodes.ConfigInvalid,
        `line: unknown step "${word}" (present, remove, wait, fault, waitFor, release, or a {...} step)`,
      );
  }
}

/** Runs the steps in order; rejects when a step fails or the signal aborts. */
export async function runScript(
  sim: ReaderSimulator,
  steps: readonly ScriptStep[],
  signal?: AbortSignal,
): Promise<void> {
  for (const step of steps) {
    if (signal?.aborted) throw new EtcError(ErrorCodes.LinkAborted, "reader script aborted");
    await runStep(sim, step, signal);
  }
}

export function runStep(sim: ReaderSimulator, step: ScriptStep, signal?: AbortSignal): Promise<void> {
  if ("present" in step) {
    sim.present(step.present);
    return Promise.resolve();
  }
  if ("remove" in step) {
    sim.remove("script");
    return Promise.resolve();
  }
  if ("fault" in step) {
    sim.inject(step.fault);
    return Promise.resolve();
  }
  if ("release" in step) {
    sim.release();
    return Promise.resolve();
  }
  if ("wait" in step) return delay(step.wait, signal);
  const w = step.waitFor;
  return waitForReplies(
    sim,
    (e) => e.name === w.command && (w.ins === undefined || e.ins.includes(w.ins)),
    w.count,
    signal,
  );
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new EtcError(ErrorCodes.LinkAborted, "reader script aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function waitForReplies(
  sim: ReaderSimulator,
  pred: (e: Extract<ReaderSimEvent, { type: "reply" }>) => boolean,
  count: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const onAbort = (): void => {
      sub.unsubscribe();
      reject(new EtcError(ErrorCodes.LinkAborted, "reader script aborted"));
    };
    const sub = sim.events$.subscribe({
      next: (e) => {
        if (e.type !== "reply" || !pred(e)) return;
        seen++;
        if (seen < count) return;
        queueMicrotask(() => sub.unsubscribe());
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      complete: () =>
        reject(new EtcError(ErrorCodes.LinkAborted, "reader simulator stopped during the script")),
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A step of another device typed on the same stream (`vehicle {...}` beside the RSU): `word` is the
 * line's first word; `run` gets the rest of the line and throws on a bad one.
 */
export interface ExtraStep {
  word: string;
  run(rest: string): void;
}

/** Steps typed on a stream, as `stepsFrom` runs them. */
export interface StreamSteps {
  /** the stream has ended and every step read from it has run (a failed one reported through `say`) */
  ended: Promise<void>;
  /** the stream has ended (its steps may still run) */
  closed: Promise<void>;
  /** the stream has not ended yet */
  inputOpen(): boolean;
  /** the line of the first step read and not finished (e.g. `waitFor CARD_APDU`, still waiting), or undefined */
  running(): string | undefined;
  /** resolves when the next step finishes (run or failed) */
  stepFinished(): Promise<void>;
}

/**
 * Steps typed on a stream (stdin: `present 4301...`, `remove`...), run one after another on the reader,
 * after `after` (a script still running); a line whose first word is an `extra` step's runs that step,
 * in the same order; a bad line or a failed step is reported through `say`. To wait for its end, use
 * stepsFrom (`ended`).
 */
export function runStepsFrom(
  input: NodeJS.ReadableStream,
  sim: ReaderSimulator,
  say: (line: string) => void,
  after: Promise<unknown> = Promise.resolve(),
  extra: readonly ExtraStep[] = [],
): void {
  stepsFrom(input, sim, say, after, extra);
}

/** `runStepsFrom`, also saying whether the stream is still open and which step runs now. */
export function stepsFrom(
  input: NodeJS.ReadableStream,
  sim: ReaderSimulator,
  say: (line: string) => void,
  after: Promise<unknown> = Promise.resolve(),
  extra: readonly ExtraStep[] = [],
): StreamSteps {
  let chain: Promise<unknown> = after;
  let open = true;
  // the lines of the steps read and not finished, in order: the first runs now (or is about to)
  const queued: string[] = [];
  const finished: (() => void)[] = [];
  const running = (line: string, run: () => unknown): Promise<unknown> => {
    queued.push(line);
    return chain
      .then(() => run())
      .catch((e: unknown) => say(`step failed: ${(e as Error).message}`))
      .finally(() => {
        queued.shift();
        for (const f of finished.splice(0)) f();
      });
  };
  const rl = createInterface({ input });
  const closed = new Promise<void>((resolve) =>
    rl.once("close", () => {
      open = false;
      resolve();
    }),
  );
  // the chain as of the stream's end: every step it had (a step's failure was reported through `say`)
  const ended = closed.then(() =>
    chain.then(
      () => undefined,
      () => undefined,
    ),
  );
  rl.on("line", (line) => {
    const t = line.trim();
    const word = t.split(/\s+/, 1)[0];
    const other = extra.find((x) => x.word === word);
    if (other) {
      const rest = t.slice(other.word.length).trim();
      chain = running(t, () => other.run(rest));
      return;
    }
    let step: ScriptStep | undefined;
    try {
      step = parseScriptLine(line);
    } catch (e) {
      say(`bad step: ${(e as Error).message}`);
      return;
    }
    if (!step) return;
    const s = step;
    chain = running(t, () => runStep(sim, s));
  });
  return {
    ended,
    closed,
    inputOpen: () => open,
    running: () => queued[0],
    stepFinished: () => new Promise<void>((resolve) => finished.push(resolve)),
  };
}
