/**
 * The booth in a lane process, from the lane config (docs/booth.md §9): the card reader of the `reader`
 * section (a serial port, or a pty path for tests and integrators; wrapped by the wire capture when
 * `capture.enabled`), the FramedCardReader driver, and the Booth, hooked to the lane controller through
 * its outcomes, its trade guards and its status-list policy (one ListPolicy decides for both paths). Its records go through the lane's Journal, which binds each into
 * the audit trail inside its own commit (src/journal/audit-binding.ts).
 */
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { READER_CAPTURE_PROTOCOL } from "../../firmware-bridge/reader/frame.js";
import { FramedCardReader } from "../../firmware-bridge/reader/framed-card-reader.js";
import { type ReaderOptionsInput, resolveReaderOptions } from "../../firmware-bridge/reader/options.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import type { AuditTrail } from "../audit/index.js";
import type { WireCapture } from "../capture/wire-capture.js";
import { readerOptionsFromConfig } from "../config/reader.js";
import type { LaneConfig } from "../config/schema.js";
import type { Journal } from "../journal/index.js";
import type { LaneController } from "../lane/controller.js";
import type { LaneOutputs } from "../outputs/outputs.js";
import type { Tariff } from "../tariff/tariff.js";
import { Booth } from "./booth.js";

export interface BoothWiringDeps {
  controller: LaneController;
  journal: Journal;
  tariff: Tariff | null;
  dialect: Dialect;
  outputs: LaneOutputs;
  audit: AuditTrail;
  logger: Logger;
  capture: WireCapture | undefined;
  /** overrides reader.port */
  transport?: Transport;
  readerOptions?: ReaderOptionsInput;
  wallNow?: () => number;
}

export interface BoothWiring {
  readonly booth: Booth;
  readonly reader: FramedCardReader;
  /** the reader's port as the trail names it */
  readonly readerPort: string;
  close(): Promise<void>;
}

export async function openBooth(c: LaneConfig, d: BoothWiringDeps): Promise<BoothWiring> {
  const r = c.reader;
  if (!r) throw new Error("openBooth needs a reader section");
  const port = d.transport ?? createSerialTransport({ path: r.port, baudRate: r.baudRate });
  const base = readerOptionsFromConfig(r);
  const options = {
    ...base,
    ...d.readerOptions,
    timeouts: { ...base.timeouts, ...d.readerOptions?.timeouts },
  };
  // The capture records the limits the reader's deframer applies, so `decode --capture` applies them too.
  const limits = d.capture ? resolveReaderOptions(options) : undefined;
  const transport =
    d.capture && limits
      ? d.capture.wrap(port, "reader", READER_CAPTURE_PROTOCOL, {
          interByteMs: limits.interByteTimeoutMs,
          maxFrameLength: limits.maxFrameLength,
        })
      : port;
  const reader = new FramedCardReader({ transport, options, logger: d.logger });
  const readerPort = d.transport ? d.transport.name : r.port;
  const booth = new Booth({
    reader,
    readerPort,
    journal: d.journal,
    lane: {
      outcomes$: d.controller.outcomes$,
      guards: d.controller.guards,
      inFlight: () => d.controller.inFlight(),
      statusList: { lookup: (q) => d.controller.listLookup(q) },
    },
    tariff: d.tariff,
    dialect: d.dialect,
    laneIdentity: c.lane,
    outputs: d.outputs,
    options: {
      psamSlot: r.psamSlot,
      originalCardWaitMs: c.booth.originalCardWaitMs,
      caseMaxAgeMinutes: c.booth.caseMaxAgeMinutes,
      queueMax: c.booth.queueMax,
      offerFor: c.booth.offerFor,
      layout0019: c.booth.layout0019,
      keyIndex: c.booth.keyIndex,
      diversificationLevels: c.booth.diversificationLevels,
      maxTripHours: c.transaction.maxTripHours,
    },
    audit: d.audit,
    logger: d.logger,
    readerCounters: () => reader.counters,
    ...(d.wallNow ? { wallNow: d.wallNow } : {}),
  });
  await booth.start();
  return {
    booth,
    reader,
    readerPort,
    close: () => booth.close(),
  };
}
