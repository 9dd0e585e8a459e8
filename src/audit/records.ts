/**
 * Journal records in the trail. The journal calls AuditTrail.bindRecord inside its commit or settle
 * transaction; the entry carries `rec: { jseq, tradeId, revision, digest }` where digest is the SHA-256
 * of the record JSON exactly as stored in the journal row, plus the fields staff search by. The row keeps
 * the entry's seq (and hash), so `audit verify` detects a changed row (digest), a deleted row (an entry
 * whose row is gone, unless a journal.retention entry names it) and an inserted row (a row no entry
 * references). docs/audit.md, "Journal binding".
 */
import type { AuditEventInput } from "./entry.js";
import { sha256hex } from "./entry.js";
import type { AuditHead, SpooledLine } from "./spool.js";

export const RECORD_TYPES = { commit: "record.commit", settle: "record.settle" } as const;
export type RecordEntryType = (typeof RECORD_TYPES)[keyof typeof RECORD_TYPES];

/** What the journal hands over for one record. */
export interface RecordBinding {
  op: "commit" | "settle";
  /** the record JSON exactly as stored in the journal row */
  json: string;
  jseq: number;
  tradeId: string;
  /** 1 at commit, +1 per settle */
  revision: number;
  kind: string;
  /** outcome or stop reason code */
  outcome: string;
  cardId: string | null;
  obuSerial: string | null;
  /** OBU MAC id */
  obuId: string | null;
  plate: string | null;
  /** fen */
  amount: number;
}

/** The data of a record entry (`record.commit` / `record.settle`). */
export interface RecordEntryData {
  rec: { jseq: number; tradeId: string; revision: number; digest: string };
  kind: string;
  outcome: string;
  cardId: string | null;
  obuSerial: string | null;
  obuId: string | null;
  plate: string | null;
  amount: number;
}

/** Given to the journal's transaction: store `seq` (and `hash`) in the row, and `spool.put(spool, head)`. */
export interface BoundEntry {
  seq: number;
  hash: string;
  /** lines to spool in this transaction: event lines not spooled yet, then this record's line */
  spool: SpooledLine[];
  head: AuditHead;
}

/** The fields of a journal record the binding reads (src/journal/types.ts CommittedRecord has them). */
export interface BindableRecord {
  seq: number;
  tradeId: string;
  revision?: number;
  kind: string;
  outcome: string;
  cardId: string | null;
  obuSerial: string | null;
  obuId: string;
  plate: string | null;
  amount: number;
}

/** The binding of a journal record whose stored JSON is `json`. */
export function recordBinding(op: RecordBinding["op"], rec: BindableRecord, json: string): RecordBinding {
  return {
    op,
    json,
    jseq: rec.seq,
    tradeId: rec.tradeId,
    revision: rec.revision ?? 1,
    kind: rec.kind,
    outcome: rec.outcome,
    cardId: rec.cardId,
    obuSerial: rec.obuSerial,
    obuId: rec.obuId,
    plate: rec.plate,
    amount: rec.amount,
  };
}

const yuan = (fen: number): string => (fen / 100).toFixed(2);

export function recordEvent(b: RecordBinding): AuditEventInput {
  const data: RecordEntryData = {
    rec: { jseq: b.jseq, tradeId: b.tradeId, revision: b.revision, digest: sha256hex(b.json) },
    kind: b.kind,
    outcome: b.outcome,
    cardId: b.cardId,
    obuSerial: b.obuSerial,
    obuId: b.obuId,
    plate: b.plate,
    amount: b.amount,
  };
  const verb = b.op === "settle" ? `settled (revision ${b.revision})` : "recorded";
  return {
    type: RECORD_TYPES[b.op],
    severity: b.kind === "suspect" ? "warn" : "info",
    message: `${b.kind} ${b.outcome} ${yuan(b.amount)} ${verb}, trade ${b.tradeId}`,
    data,
  };
}

export function isRecordType(type: string): type is RecordEntryType {
  return type === RECORD_TYPES.commit || type === RECORD_TYPES.settle;
}
