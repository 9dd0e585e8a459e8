/**
 * Fakes for the settlement of a suspect at the booth (src/booth/settle.ts settleSuspect) without a lane: the
 * suspect of a DSRC attempt and a BoothContext that records what the settlement did. The card's evidence
 * each test file stubs itself (vi.mock of src/booth/card-probe.js gatherEvidence, hoisted per file).
 */
import { silentLogger } from "../../firmware-bridge/log.js";
import type { Detail0018 } from "../../src/booth/apdus.js";
import type { BoothContext } from "../../src/booth/context.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import type { Settlement } from "../../src/lane/ports.js";
import { sampleRecord } from "../journal/sample-record.js";

export const CARD_ID = "43012200000000000001";
export const OBU_SERIAL = "4301000000000001";
/** The attempt: exit 4301/0102 lane 3 at 10:15:00 (+08:00), card offline serial 100, balance 5000. */
export const ATTEMPT_MS = Date.parse("2025-12-03T10:15:00+08:00");

/** The suspect's attempt as the card keeps it: 1425 fen at 10:15:00 on the lane's PSAM, serial 100. */
export const ATTEMPT_DETAIL: Detail0018 = {
  offlineSerial: 100,
  amount: 1425,
  transType: 0x09,
  terminalNo: "430100000001",
  transTime: "20251203101500",
};

/** A B5_NO_DSRC suspect whose B5 is this purchase (its TransTime, PSAM terminal, card serial); `over` on top. */
export function b5NoDsrcSuspect(over: Partial<CommittedRecord> = {}): CommittedRecord {
  return {
    ...sampleRecord(1, "suspect"),
    kind: "suspect",
    outcome: "B5_NO_DSRC",
    seq: 1,
    tradeId: "T1",
    revision: 1,
    cardId: CARD_ID,
    obuSerial: OBU_SERIAL,
    amount: 1425,
    balanceBefore: 5000,
    lane: { network: "4301", station: "0102", lane: 3 },
    transTime: "20251203101500",
    iccPaySerial: "0064",
    psamNo: "430100000001",
    psamTransSerial: "00001234",
    transType: "09",
    vehicleClass: 1,
    createdAt: "2025-12-03T10:15:00+08:00",
    extra: { uncertain: true, purchaseTimeMs: ATTEMPT_MS, b5TransTime: "20251203101500" },
    ...over,
  } as CommittedRecord;
}

/** An audit entry as ctx.audit and ctx.noteShown take it. */
export interface AuditEntry {
  type: string;
  severity: string;
  message: string;
  data?: Record<string, unknown>;
}

/**
 * A BoothContext for settleSuspect on a lane of `role` (default exit): `trySettle` answers the booth's own
 * settlement (ctx.trySettle), `now` is the record as the journal has it now (ctx.journal.get), `noteShown`
 * replaces noting the evidence entry with the debit shown and answering true, `lookup` is the status list's
 * answer (default: not listed), `counters` the booth's counters (default: all four at 0).
 * Returns the context and what it recorded.
 */
export function settleContext(o: {
  role?: "entry" | "exit";
  trySettle: (seq: number, x: Settlement) => unknown;
  now: () => CommittedRecord;
  noteShown?: (seq: number, e: AuditEntry) => Promise<boolean>;
  lookup?: () => unknown;
  counters?: Record<string, number>;
}) {
  const audits: AuditEntry[] = [];
  /** the evidence entries the journal noted with the debit shown (ctx.noteShown), and the holds released */
  const noted: AuditEntry[] = [];
  const released: unknown[] = [];
  /** the records the barrier opened for that are not the booth's own (settled meanwhile) */
  const barriers: CommittedRecord[] = [];
  /** whose record each barrier was opened for (effects.ts BarrierFor) */
  const barrierFor: unknown[] = [];
  const alarms: string[] = [];
  /** the screens shown (their step) */
  const shown: string[] = [];
  const ctx = {
    rec: { lane: { role: o.role ?? "exit" } },
    reader: {},
    psam: { prepare: async () => Buffer.from("430100000001", "hex"), keys: { keyIndex: 1 } },
    trySettle: async (seq: number, x: Settlement) => o.trySettle(seq, x),
    noteShown:
      o.noteShown ??
      (async (_seq: number, e: AuditEntry) => {
        noted.push(e);
        return true;
      }),
    journal: { get: o.now },
    counters: o.counters ?? { settledDebited: 0, settledNotDebited: 0, paidUnsettled: 0, refusals: 0 },
    lane: {
      guards: {
        release: (k: unknown) => released.push(k),
        rememberTraded: () => undefined,
        noteDebit: () => undefined,
      },
      statusList: { lookup: o.lookup ?? (() => ({ listed: false })) },
    },
    recorded: () => undefined,
    openBarrier: (rec: CommittedRecord, whose: unknown) => {
      barriers.push(rec);
      barrierFor.push(whose);
    },
    audit: (type: string, severity: string, message: string, data?: Record<string, unknown>) =>
      audits.push({ type, severity, message, data }),
    alarm: (code: string) => alarms.push(code),
    show: (p: { step: string }) => shown.push(p.step),
    log: silentLogger,
  } as unknown as BoothContext;
  return { ctx, audits, noted, released, barriers, barrierFor, alarms, shown };
}
