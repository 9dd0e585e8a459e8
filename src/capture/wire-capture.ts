/**
 * The lane's wire capture (config `capture`, docs/capture.md): when enabled, each serial port the lane
 * opens is wrapped so every byte in both directions goes to one rotating capture in
 * `capture.dir` (default <dataDir>/capture).
 */
import { join } from "node:path";
import { capturingTransport } from "../../firmware-bridge/capture/capture-transport.js";
import { CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import { dialectTerms } from "../../firmware-bridge/capture/dialect-terms.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { Logger } from "../../firmware-bridge/log.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
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
  close(): void;
}

/** The capture the config asks for, or undefined when `capture.enabled` is false. */
export function openWireCapture(c: LaneConfig, logger?: Logger): WireCapture | undefined {
  if (!c.capture.enabled) return undefined;
  const lane = laneLabel(c.lane);
  const writer = new CaptureWriter({
    dir: c.capture.dir ?? join(c.dataDir, "capture"),
    prefix: `lane-${lane}`,
    maxFileBytes: c.capture.maxFileMB * 1024 * 1024,
    maxFiles: c.capture.maxFiles,
    application: `etc-lane ${lane}`,
    // never the disk full under the journal (by default the capture is on its disk): as a list's download
    minFreeBytes: FREE_SPACE_MARGIN,
    ...(logger ? { logger } : {}),
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
    close: () => writer.close(),
  };
}
