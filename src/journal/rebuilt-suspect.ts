/**
 * A suspect the audit trail holds and journal.db lacks (the file was found behind the trail and an
 * operator went on with it: ./behind-trail.ts), as the lane can rebuild it to settle it by hand
 * (`etc-lane journal settle`, src/lane/operator-settlement.ts; docs/journal.md, "A journal behind the
 * audit trail"). The trail's entry of it names its seq, trade id, revision, kind, outcome, card id, OBU
 * serial and MAC id, plate and amount, and the SHA-256 of its JSON: everything else the record held (TAC
 * and serials the RSU reported, balances, entry, stage times, raw frames...) is lost with the file, so it is
 * null here (empty for the stage times and list versions). `extra.rebuiltFromTrail` says so, with the
 * digest of the revision it replaces: whoever holds that revision (the station, if it got it) can match
 * it. Its settlement (./records.ts settleRebuilt) is the record the station gets: revision + 1 of that
 * trade id, which replaces what the station holds of it.
 */
import { localIso } from "../local-time.js";
import type { TrailOnlySuspect } from "./behind-trail.js";
import { parseTradeId } from "./trade-id.js";
import { type CommittedRecord, type LaneIdentity, NO_DEBIT_FIELDS } from "./types.js";

/** What a rebuilt record keeps in `extra.rebuiltFromTrail`. */
export interface RebuiltFromTrail {
  why: string;
  /** the revision the trail's entry names, and the SHA-256 of that revision's JSON */
  revision: number;
  digest: string;
}

export function rebuiltSuspect(
  k: TrailOnlySuspect,
  lane: LaneIdentity,
  utcOffsetMinutes: number,
): CommittedRecord {
  const note: RebuiltFromTrail = {
    why:
      "journal.db was found behind the audit trail and lacks this record: rebuilt from the trail's entry " +
      "of it, which names only these fields; what else the suspect held is in the revision whose digest this is",
    revision: k.revision,
    digest: k.digest,
  };
  return {
    kind: "suspect",
    outcome: k.outcome,
    obuId: k.obuId ?? "",
    obuSerial: k.obuSerial,
    cardId: k.cardId,
    cardType: null,
    cardIssuer: null,
    cardNetwork: null,
    vehicleClass: null,
    plate: k.plate,
    plateColor: null,
    entry: null,
    entryClass: null,
    amountDue: null,
    discountPercent: null,
    amount: k.amount,
    balanceBefore: null,
    ...NO_DEBIT_FIELDS,
    statusListVersions: { full: null, delta: null },
    tariffVersion: null,
    stageTimes: {},
    rawB4: null,
    rawB5: null,
    rsuProtocol: null,
    extra: { rebuiltFromTrail: note },
    seq: k.jseq,
    tradeId: k.tradeId,
    createdAt: k.recordedAt || createdAtOfTradeId(k.tradeId, utcOffsetMinutes),
    lane,
    revision: k.revision,
  };
}

/** The trade id's local time (to the second) at the lane's offset, as createdAt is written. */
function createdAtOfTradeId(tradeId: string, utcOffsetMinutes: number): string {
  const t = parseTradeId(tradeId)?.time;
  if (!t) return "";
  const [y, mo, d, h, mi, s] = [0, 4, 6, 8, 10, 12].map((i, n) => Number(t.slice(i, n === 0 ? 4 : i + 2)));
  const ms = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!) - utcOffsetMinutes * 60_000;
  return localIso(ms, utcOffsetMinutes);
}
