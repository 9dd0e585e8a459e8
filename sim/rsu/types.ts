/**
 * The simulated RSU's public vocabulary: options, timing, modes, outcomes, events and faults. The
 * parts that implement it (./link.ts, ./wire-faults.ts, ./traffic.ts, ./transaction.ts, ./purchase.ts,
 * ./rsu-faults.ts, ./heartbeat.ts) and the composition (./rsu-simulator.ts) share these types.
 */
import type { Observable } from "rxjs";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { Variant } from "../../firmware-bridge/framing/types.js";
import type { FrameChannel } from "../../firmware-bridge/link/frame-channel.js";
import type { Logger } from "../../firmware-bridge/log.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import type { CardSnapshot } from "../card/types.js";
import type { FrameLogSink } from "../framelog/frame-log.js";
import type { LedgerEntry, LedgerSink } from "../ledger/ledger.js";
import type { Scenario, ScenarioInput, VehicleSpecInput } from "../scenario/schema.js";
import type { VehicleModel } from "../vehicles/vehicles.js";
import type { CardEnvironment } from "./cards.js";
import type { SimClock } from "./clock.js";
import type { RsuIdentity } from "./rsu-frames.js";

export interface DsrcTiming {
  /** BST/VST before B2. */
  b2: number;
  /** GetSecure (vehicle file) before B3. */
  b3: number;
  /** TransferChannel reads (0015, balance, 0019) before B4. */
  b4: number;
  /** The composite purchase before B5. */
  b5: number;
  /** GET TRANSACTION PROVE before B8. */
  b8: number;
  /** PSAM reset and self-test between C0 and B0. */
  init: number;
}

export interface RsuTiming {
  /** Gap between repeats of an unanswered information frame. Default 120. */
  retransmitMs: number;
  /** Repeats before giving up. Default 3. */
  retries: number;
  /** Heartbeat period: legacy B2/0x80 (more than 3 s, less than 1 min, in the field), national B1 (10 s). Default 10000. */
  heartbeatMs: number;
  /** Time the RSU spends on the air before each frame (ms). */
  dsrcMs: DsrcTiming;
  /** Reboot: how long the RSU is dead before it announces itself with B0. Default 800. */
  bootMs: number;
  /** Scenario traffic (arrivals, timed fault events) runs this many times faster. Protocol timing does not. */
  timeScale: number;
  /**
   * After C0 (or C4 00) with vehicles waiting, how long the RSU waits for C4 01 before it says the
   * antenna is closed (a notice, once each time). Default 3000.
   */
  antennaHintMs: number;
}

export const DEFAULT_TIMING: RsuTiming = {
  retransmitMs: 120,
  retries: 3,
  heartbeatMs: 10_000,
  dsrcMs: { b2: 8, b3: 15, b4: 20, b5: 40, b8: 20, init: 20 },
  bootMs: 800,
  timeScale: 1,
  antennaHintMs: 3000,
};

export function validateTiming(t: RsuTiming): void {
  const bad = (field: string, v: number, range: string): never => {
    throw new Error(`timing.${field}: expected ${range}, got ${v}`);
  };
  if (!(t.retransmitMs > 0 && t.retransmitMs <= 10_000)) bad("retransmitMs", t.retransmitMs, "1..10000 ms");
  if (!(Number.isInteger(t.retries) && t.retries >= 0 && t.retries <= 10)) bad("retries", t.retries, "0..10");
  if (!(t.heartbeatMs >= 10 && t.heartbeatMs <= 600_000)) bad("heartbeatMs", t.heartbeatMs, "10..600000 ms");
  if (!(t.timeScale > 0 && t.timeScale <= 10_000)) bad("timeScale", t.timeScale, "> 0");
  if (!(t.bootMs >= 0)) bad("bootMs", t.bootMs, ">= 0");
  if (!(t.antennaHintMs >= 0)) bad("antennaHintMs", t.antennaHintMs, ">= 0");
  for (const [k, v] of Object.entries(t.dsrcMs)) if (!(v >= 0)) bad(`dsrcMs.${k}`, v, ">= 0");
}

export type RsuMode =
  | "off"
  | "idle"
  | "search"
  | "dsrc"
  | "wait-b2"
  | "wait-b3"
  | "wait-b4"
  | "wait-b5"
  | "wait-b8";

export type VehicleOutcome =
  /** B5 (or B8) succeeded: the card paid. */
  | "traded"
  /** B5 00 to an EF04-only C6 (national OBUTradeType 01): the OBU's EF04 written, no purchase, nothing paid. */
  | "ef04-written"
  /** The lane stopped it with C2, or declined it with an empty ack to its B2, B3 or B4. */
  | "stopped"
  /** The lane did not answer an information frame after all retries. */
  | "gave-up"
  /** An error frame (B3/B4/B5/B8 ErrorCode != 0) ended it. */
  | "failed"
  /** It drove through without the RSU reaching it (antenna closed, RSU busy or off). */
  | "missed"
  /** The OBU left while the RSU waited for the lane's decision. */
  | "abandoned"
  /** C0, C4 00 or a reboot cut the transaction short before it paid (it may be traded again). */
  | "aborted";

export type SimEvent =
  | { type: "entered" | "left"; at: number; vehicleId: string; obuId: string }
  | {
      type: "ended";
      at: number;
      vehicleId: string;
      obuId: string;
      outcome: VehicleOutcome;
      detail?: string;
      /** "C2": the lane's C2 (stop type 1, 3 or 4) ended it, whatever the outcome (`failed` after an error frame) */
      endedBy?: "C2";
    }
  | { type: "done"; at: number; vehicleId: string; obuId: string; outcome: VehicleOutcome }
  /** The RSU stopped repeating `frame`: no answer after all retries. `waitedFor` names the answers it took. */
  | { type: "gaveUp"; at: number; frame: string; waitedFor: string; vehicleId?: string; obuId?: string }
  | { type: "fault"; at: number; fault: string; vehicleId?: string; obuId?: string; detail?: string }
  | { type: "illegal"; at: number; frame: string; handling: string }
  | { type: "ledger"; at: number; entry: LedgerEntry }
  | { type: "mode"; at: number; mode: RsuMode }
  /** Something an integrator should know about the lane under test (antenna never opened...). */
  | { type: "notice"; at: number; code: NoticeCode; message: string };

export type NoticeCode = "antenna-closed" | "b0-unanswered";

/**
 * Faults injected at run time through `inject()` (tests, embedding code). `etc-sim rsu` reads none from
 * stdin: there, RSU faults come from the scenario (`faults.events`, per-vehicle `faults`).
 */
export type RsuFault =
  | { kind: "reboot"; bootMs?: number }
  | { kind: "unplug"; durationMs?: number }
  | { kind: "heartbeat-stop"; durationMs?: number }
  | { kind: "heartbeat-resume" }
  | { kind: "noise"; bytes?: number }
  /** Applies to the next information frame the RSU sends. */
  | { kind: "garble"; mode?: "bytes" | "noise"; times?: number }
  | { kind: "bad-checksum"; times?: number }
  | { kind: "duplicate" }
  /**
   * Extra delay before every frame of an OBU's transaction (B2..B5, the B8 for an OBU in range, a C2
   * resend) until set back to delayMs 0; not the B0 answering C0, a B8 01 for an OBU out of range, or
   * heartbeats.
   */
  | { kind: "slow"; delayMs: number };

export interface VehicleStatus {
  id: string;
  obuId: string;
  cardId: string | undefined;
  phase: "coming" | "in-zone" | "left";
  outcome: VehicleOutcome | undefined;
  complete: boolean;
  /** the scenario's `drivesOff`: stopped, the driver drives off instead of coming to the booth */
  drivesOff: boolean;
}

export interface RsuSimulatorOptions {
  transport: Transport;
  protocol: Variant;
  /** Vendor quirks over the protocol's default dialect. */
  dialect?: Partial<Omit<Dialect, "variant">>;
  /** A parsed scenario or a plain object (validated). Default: no traffic (add vehicles with addVehicle). */
  scenario?: Scenario | ScenarioInput;
  /** An integer 0..4294967295 (RSU_SEEDS, sim/seed.ts; else refused). Default: the scenario's seed, else 1. */
  seed?: number;
  /** A file path (JSON lines, appended) or a sink. Entries are also kept in memory (ledger()). */
  ledger?: string | LedgerSink;
  /** A file path (JSON lines, appended) or a sink. */
  frameLog?: string | FrameLogSink;
  clock?: SimClock;
  logger?: Logger;
  timing?: Partial<Omit<RsuTiming, "dsrcMs">> & { dsrcMs?: Partial<DsrcTiming> };
  identity?: Partial<RsuIdentity>;
  /** Cards and PSAM; default sim/card with config/keys/card-test-keys.json. */
  cards?: CardEnvironment;
  /**
   * Wall clock (epoch ms) entry times count from, and the RSU's own clock at power-on (it then runs on
   * `clock`); default the scenario's startTime, else Date.now().
   */
  wallClockStart?: number;
  /**
   * Send the power-on B0 unasked (legacy RSCTL 0x98, the power-on mark; national SEQ 01). `true`: at
   * start(), for a transport whose lane end is there from the start (a pair, a serial cable).
   * `"first-frame"`: once the lane's first frame is handled (sent before the B0, it does not answer it),
   * unless that frame is a C0 (the B0 answering it is then the first frame and carries the mark): for a
   * pty, whose lane end the RSU cannot see being opened, and which a lane's open flushes. Otherwise only when `announce()` is called (a TCP
   * lane connecting). Default false.
   */
  announcePowerOn?: boolean | "first-frame";
  /**
   * How the unplug fault pulls the cable. Default: close the transport and reopen it. An in-process
   * pair passes its unplug/replug so the lane end sees the disconnect too.
   */
  cable?: { unplug(): void; replug(): void };
  /**
   * Use the lane's divisor factors as hardware does: the C6/C3's goes to the PSAM for MAC1 (a wrong one
   * still uses a PSAM serial, the card refuses DEBIT with 9302 and B5 carries ErrorCode 06), and the C1
   * to B2 must carry the OBU issuer's (else B3 ErrorCode 09). False: the right divisors whatever the
   * frames carry. Default true.
   */
  checkDivFactor?: boolean;
  /**
   * A lane frame longer than its declaration (bytes after its last declared field, the decoder's
   * `extra`) is ignored, as firmware that checks lengths drops it: no answer, the pending frame keeps
   * being repeated. Default false: the frame is handled as declared and the surplus reported (an
   * `illegal` event and the frame log's handling), as ./rsu-simulator.ts `surplusOf` words it.
   */
  strictLength?: boolean;
}

export interface RsuSimulator {
  /** Opens the transport and powers the RSU on (it waits for C0). */
  start(): Promise<void>;
  /** Stops every timer, closes the transport, flushes the ledger and frame log. */
  stop(): Promise<void>;
  /** Every purchase the cards performed, in order. */
  ledger(): LedgerEntry[];
  cards(): CardSnapshot[];
  /** The OBU's EF04 image (91 bytes, hex) as the last national C6 with OBUTradeType 00 or 01 wrote it. */
  ef04(obuId: string): string | undefined;
  vehicles(): VehicleStatus[];
  readonly mode: RsuMode;
  readonly events$: Observable<SimEvent>;
  /**
   * Resolves when every vehicle known by then, the scenario's and every one added so far, has left the
   * zone and is finished. Read again after `addVehicle`: a promise read while none was left to finish
   * (a scenario without vehicles) is already resolved (sim/rsu/traffic.ts `done`).
   */
  readonly done: Promise<void>;
  /** A vehicle entering `spec.at` ms from now (default now); defaults of the scenario apply. */
  addVehicle(spec?: VehicleSpecInput): VehicleModel;
  inject(fault: RsuFault): void;
  /**
   * Sends the power-on B0 unasked if the RSU has sent nothing since it powered on (so it carries the
   * power-on mark) and is not rebooting (its own B0 goes out when the boot ends); true when it went out.
   * Call it when a lane is there to hear it (a TCP lane connecting).
   */
  announce(): boolean;
  /** The frame channel on the transport (counters, raw frames). */
  readonly channel: FrameChannel;
  readonly dialect: Dialect;
}
