/**
 * What the booth reads from a card through the reader (docs/booth.md §2 and §5): the card itself
 * (0015, balance, 0019 in its card-version layout) and, when a debit's outcome is in question, the
 * evidence evidence.ts judges (0018 records, the offline serial a new INIT returns, GET TRANSACTION
 * PROVE). Reader errors pass through unchanged (the caller decides what they mean).
 */

import { EtcError } from "../../firmware-bridge/errors.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { file0015 } from "../../firmware-bridge/frames/records.js";
import type { CardActivation, CardReader } from "../../firmware-bridge/reader/card-reader.js";
import type { CardIssuance, EntryExitRecord } from "../rsu/driver.js";
import { issuanceOf } from "../rsu/driver-common.js";
import {
  CARD,
  type Detail0018,
  dataOf,
  expectData,
  parse0018,
  parseInit,
  parseProve,
  swOf,
} from "./apdus.js";
import { BoothErrorCodes } from "./errors.js";
import { type Attempt, type CardEvidence, MAX_DETAILS, needsOlderDetail } from "./evidence.js";
import { decodeRecord, type Layout0019, type Layout0019Name, layoutFor, readApdu } from "./record-0019.js";

export interface CardRead {
  activation: CardActivation;
  /** 20 digits: card network + card serial */
  cardId: string;
  issuance: CardIssuance;
  file0015: Buffer;
  balance: number;
  layout: Layout0019;
  file0019: Buffer;
  /** the entry/exit record 0019 holds (null: never written) */
  last: EntryExitRecord | null;
}

/** Activate, SELECT 1001, 0015 and balance in one list, then 0019 as the card's version lays it out. */
export async function readCard(
  reader: CardReader,
  dialect: Dialect,
  forceLayout?: Layout0019Name,
  signal?: AbortSignal,
): Promise<CardRead> {
  const activation = await reader.activate(signal);
  const [sel, f15, bal] = await reader.cardApduList(
    [CARD.selectEtc(), CARD.read0015(), CARD.balance()],
    signal,
  );
  if (!sel || swOf(sel) !== "9000") throw cardAnswer("SELECT 1001", sel);
  const raw15 = expectData("READ BINARY 0015", f15 ?? Buffer.alloc(0), 43);
  const balance = expectData("GET BALANCE", bal ?? Buffer.alloc(0), 4).readUInt32BE(0);
  const decoded = file0015.decode(raw15, 0, 43, DEFAULT_NATIONAL_DIALECT, {});
  const issuance = issuanceOf(decoded?.[0]);
  if (!issuance) throw cardAnswer("READ BINARY 0015", f15);
  const layout = layoutFor(issuance.cardVersion, issuance.cardNetwork, forceLayout);
  const r19 = await reader.cardApdu(readApdu(layout), signal);
  const file0019 = expectData(`READ RECORD 0019 (${layout.name})`, r19);
  return {
    activation,
    cardId: `${issuance.cardNetwork}${issuance.cardSerial}`,
    issuance,
    file0015: raw15,
    balance,
    layout,
    file0019,
    last: decodeRecord(file0019, dialect),
  };
}

/**
 * The evidence about `attempt` (evidence.ts): balance and a new INIT's offline serial (amount 0: INIT
 * changes nothing on the card; FFFF when the card's counter is exhausted, nextOfflineSerial), 0018
 * records newest first until they can decide, and GET TRANSACTION PROVE for the newest one when it is the
 * attempt's. The card must be activated and its application
 * selected (readCard).
 */
export async function gatherEvidence(
  reader: CardReader,
  attempt: Attempt,
  terminalNo: Buffer,
  /** the key index INIT names (the booth's purchase keys, apdus.ts PurchaseKeys) */
  keyIndex: number,
  record0019: EntryExitRecord | null,
  signal?: AbortSignal,
): Promise<CardEvidence> {
  const [bal, init] = await reader.cardApduList(
    [CARD.balance(), CARD.initCapp(0, terminalNo, keyIndex)],
    signal,
  );
  const balance = expectData("GET BALANCE", bal ?? Buffer.alloc(0), 4).readUInt32BE(0);
  const nextSerial = nextOfflineSerial(init ?? Buffer.alloc(0));
  const details: Detail0018[] = [];
  let complete = false;
  for (let n = 1; n <= MAX_DETAILS; n++) {
    const r = await reader.cardApdu(CARD.read0018(n), signal);
    const d = parse0018(r);
    if (!d) {
      if (swOf(r) !== "6a83") throw cardAnswer(`READ RECORD 0018 record ${n}`, r);
      complete = true;
      break;
    }
    details.push(d);
    if (!needsOlderDetail(attempt, details, false)) break;
  }
  const ev: CardEvidence = { balance, nextSerial, details, detailsComplete: complete, record0019 };
  const newest = details[0];
  if (newest) {
    const p = parseProve(await reader.cardApdu(CARD.prove(newest.offlineSerial, newest.transType), signal));
    ev.proof = { offlineSerial: newest.offlineSerial, ...p };
  }
  return ev;
}

/** INIT's status word for a card whose offline serial is exhausted (at FFFF): no purchase can follow. */
export const SERIAL_EXHAUSTED = "9402";

/**
 * The offline serial the next purchase would use, from the answer to an INIT of amount 0. 9402 is a card
 * whose counter is exhausted at FFFF (PBOC; docs/card-crypto.md §4: the card refuses INIT once its counter
 * reached FFFF, so its last purchase used FFFE and none can follow): the counter is FFFF, which no purchase
 * used nor can use. The card's 0018 records and GET TRANSACTION PROVE still judge a debit at FFFE (before,
 * 9402 threw here, and such a debit could never be settled nor recovered at the booth). Any other refusal
 * throws (parseInit): the card's answer says nothing of its counter.
 */
export function nextOfflineSerial(init: Buffer): number {
  if (swOf(init) === SERIAL_EXHAUSTED && dataOf(init).length === 0) return 0xffff;
  return parseInit(init).offlineSerial;
}

/** The card's newest 0018 record (null when it has none: "record not found"). */
export async function readNewestDetail(reader: CardReader, signal?: AbortSignal): Promise<Detail0018 | null> {
  const r = await reader.cardApdu(CARD.read0018(1), signal);
  const d = parse0018(r);
  if (!d && swOf(r) !== "6a83") throw cardAnswer("READ RECORD 0018 record 1", r);
  return d;
}

function cardAnswer(what: string, r: Buffer | undefined): EtcError {
  return new EtcError(
    BoothErrorCodes.CardAnswer,
    `${what}: the card answered ${r ? swOf(r) || r.toString("hex") : "nothing"}`,
    { step: what, ...(r ? { sw: swOf(r) } : {}) },
  );
}
