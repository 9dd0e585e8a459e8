/**
 * The lane's wire capture (config `capture`, docs/capture.md): when enabled, each serial port the lane
 * opens is wrapped so every byte in both directions goes to one rotating capture in
 * `capture.dir` (default <dataDir>/capture).
 *
 * A capture that stops (its disk short of the margin kept for the journal, a file that cannot be written:
 * firmware-bridge/capture/capture-writer.ts) never stops the lane; it is said where the lane's state is
 * read: `status()` (the snapshot's `capture`, src/service/runtime-snapshot.ts captureView: GET /status,
 * `etc-lane status`, /metrics) and one `CAPTURE_STOPPED` alarm entry in the audit trail, written when it
 * stops (on the writer's flush, after the frame's handler: never on the lane's decision path).
 */
import { join } from "node:path";
import { capturingTransport } from "../../firmware-bridge/capture/capture-transport.js";
import { type CaptureStop, CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import { dialectTerms } from "../../firmware-bridge/capture/dialect-terms.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { Logger } from "../../firmware-bridge/log.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import type { LaneEvents } from "../audit/events.js";
import type { LaneConfig } from "../config/schema.js";
import { FREE_SPACE_MARGIN } from "../datadir/free-space.js";
import { laneLabel } from "../journal/trade-id.js";

/** The limits the port's deframer applies; the capture's description records them for `decode --capture`. */
export interface CaptureFraming {
  interByteMs: number;
  maxFrameLength: number;
}

export interface WireCapture {
  /**
   * `inner` captured as port `port` ("rsu", "reader"); `protocol`, the RSU dialect the port speaks
   * (`dialect`: the settings that change frame layouts and times, firmware-bridge/capture/dialect-terms.ts)
   * and the deframer's limits (`framing`) go into the port's description.
   */
  wrap(
    inner: Transport,
    port: string,
    protocol?: string,
    framing?: CaptureFraming,
    dialect?: Dialect,
  ): Transport;
  /** The file being written now. */
  readonly current: string | undefined;
  /** What it has written, and since when and why it stopped (null while it captures). */
  status(): WireCaptureStatus;
  close(): void;
}

/** The capture's state as the lane's status shows it (`capture` in src/service/lane-view.ts). */
export interface WireCaptureStatus {
  /** true while it captures; false once it stopped (for good: until the lane starts again) */
  active: boolean;
  dir: string;
  /** the file being written (after a stop: the last one written); null before the first */
  current: string | null;
  /** files this run of the lane started (earlier ones may have been pruned since: `capture.maxFiles`) */
  files: number;
  /** bytes this run wrote */
  bytes: number;
  /** the stop: `disk-margin` or `write-failed`, the error line's text, when (wall ms); null while it captures */
  stopped: { reason: CaptureStop["reason"]; message: string; at: number } | null;
}

/** The alarm code of a capture's stop, in the audit trail (docs/maintenance.md "Alarms and notices"). */
export const CAPTURE_STOPPED_CODE = "CAPTURE_STOPPED";

export interface WireCaptureOptions {
  logger?: Logger;
  /** the lane's trail: its stop is a `CAPTURE_STOPPED` alarm entry there */
  events?: Pick<LaneEvents, "alarm">;
  /** the bytes free on the capture's disk (default statfs); tests stand in a disk short of its margin */
  freeBytes?: (dir: string) => number;
  /** wall clock of the stop's `at`, ms; default Date.now */
  now?: () => number;
}

/** The capture the config asks for, or undefined when `capture.enabled` is false. */
export function openWireCapture(c: LaneConfig, o: WireCaptureOptions = {}): WireCapture | undefined {
  if (!c.capture.enabled) return undefined;
  const { logger, events } = o;
  const now = o.now ?? Date.now;
  const lane = laneLabel(c.lane);
  const dir = c.capture.dir ?? join(c.dataDir, "capture");
  let stoppedAt: number | null = null;
  const writer = new CaptureWriter({
    dir,
    prefix: `lane-${lane}`,
    maxFileBytes: c.capture.maxFileMB * 1024 * 1024,
    maxFiles: c.capture.maxFiles,
    application: `etc-lane ${lane}`,
    // never the disk full under the journal (by default the capture is on its disk): as a list's download
    minFreeBytes: FREE_SPACE_MARGIN,
    ...(logger ? { logger } : {}),
    ...(o.freeBytes ? { freeBytes: o.freeBytes } : {}),
    // once, when it stops (the constructor's own stop included: the directory cannot be made)
    onStopped: (stop) => {
      stoppedAt = now();
      if (!events) return;
      try {
        events.alarm(CAPTURE_STOPPED_CODE, stop.message, {
          reason: stop.reason,
          dir,
          ...(stop.freeBytes !== undefined ? { freeBytes: stop.freeBytes } : {}),
          ...(stop.marginBytes !== undefined ? { marginBytes: stop.marginBytes } : {}),
          ...(stop.error !== undefined ? { error: stop.error } : {}),
        });
      } catch (e) {
        logger?.error({ err: (e as Error).message }, "audit append failed");
      }
    },
  });
  return {
    wrap: (inner, port, protocol, framing, dialect) =>
      capturingTransport(
        inner,
        writer,
        port,
        `etc-lane ${lane} ${port} port ${inner.name}${protocol ? ` protocol=${protocol}` : ""}${
          dialect ? ` ${dialectTerms(dialect)}` : ""
        }${framing ? ` inter-byte-ms=${framing.interByteMs} max-frame-length=${framing.maxFrameLength}` : ""}`,
      ),
    get current() {
      return writer.current;
    },
    status: () => {
      const s = writer.status();
      return {
        active: s.stopped === null,
        dir: s.dir,
        current: s.current ?? null,
        files: s.files,
        bytes: s.bytes,
        stopped: s.stopped
          ? { reason: s.stopped.reason, message: s.stopped.message, at: stoppedAt ?? 0 }
          : null,
      };
    },
    close: () => writer.close(),
  };
}
