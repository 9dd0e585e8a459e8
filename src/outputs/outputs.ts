/**
 * Lane outputs (barrier, lane light, fee display, alarms) as events behind one interface. The default
 * sinks print or log them; real IO boards implement `LaneOutputs` and plug in without touching the lane.
 */
import type { Logger } from "../../firmware-bridge/log.js";

export type LaneOutputEvent =
  | { type: "barrier"; action: "open" | "close"; obuId: string | null; at: number; seq?: number }
  | { type: "light"; color: "green" | "red"; at: number }
  | {
      type: "display";
      text: string;
      detail: string;
      tone: "ok" | "stop" | "warn";
      obuId: string | null;
      at: number;
    }
  | { type: "lane"; status: "open" | "closed"; reason: string; at: number }
  | { type: "alarm"; code: string; message: string; at: number }
  /** the booth collector's screen (src/booth/prompts.ts): what happened, what to do */
  | {
      type: "booth";
      step: string;
      text: string;
      detail: string;
      tone: "ok" | "stop" | "warn" | "info";
      caseId: string | null;
      at: number;
    };

export interface LaneOutputs {
  /** Called synchronously from the lane loop: must not block (queue to the device if it is slow). */
  emit(ev: LaneOutputEvent): void;
  close?(): void | Promise<void>;
}

/** Human-readable console lines (the default for a lane PC with an attached screen). */
export function consoleOutputs(
  write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): LaneOutputs {
  return {
    emit(ev) {
      switch (ev.type) {
        case "barrier":
          write(`[栏杆] ${ev.action === "open" ? "抬杆" : "落杆"}${ev.obuId ? ` OBU ${ev.obuId}` : ""}`);
          break;
        case "light":
          write(`[通行灯] ${ev.color === "green" ? "绿" : "红"}`);
          break;
        case "display":
          write(`[费显] ${ev.text} ${ev.detail}`);
          break;
        case "lane":
          write(`[车道] ${ev.status === "open" ? "开放" : "关闭"}: ${ev.reason}`);
          break;
        case "alarm":
          write(`[报警] ${ev.code}: ${ev.message}`);
          break;
        case "booth":
          write(`[收费亭] ${ev.text} ${ev.detail}`);
          break;
      }
    },
  };
}

/** Structured log lines (for headless lanes; the IO board reads them elsewhere). */
export function logOutputs(logger: Logger): LaneOutputs {
  const log = logger.child({ ch: "OUT" });
  return {
    emit(ev) {
      if (ev.type === "alarm") log.warn(ev, "alarm");
      else if (ev.type === "lane" && ev.status === "closed") log.error(ev, "lane closed");
      else log.info(ev, ev.type);
    },
  };
}

/** Fan out to several sinks; one failing sink never stops the others. */
export function teeOutputs(...sinks: LaneOutputs[]): LaneOutputs {
  return {
    emit(ev) {
      for (const s of sinks) {
        try {
          s.emit(ev);
        } catch {
          // an output device failure must not stop the lane loop
        }
      }
    },
    async close() {
      for (const s of sinks) await s.close?.();
    },
  };
}

export const nullOutputs: LaneOutputs = { emit() {} };
