/**
 * The composite purchase run through a CardReader, as the booth flow will run it (docs/reader.md §9):
 * the APDU sequence only, no journal. Tests use it to drive the simulated reader end to end.
 */

import type { CardReader } from "../../firmware-bridge/reader/card-reader.js";
import { buildCommand } from "../../sim/card/apdu.js";
import { encode0019 } from "../../sim/card/card-files.js";
import { cardDivisor, issuerDivisor } from "../../sim/card/crypto/pboc.js";
import type { Card0019 } from "../../sim/card/types.js";

export const h = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ""), "hex");
export const sw = (r: Buffer | undefined): string => (r ? r.subarray(r.length - 2).toString("hex") : "none");
export const body = (r: Buffer): Buffer => r.subarray(0, r.length - 2);

export interface PsamSession {
  terminalNo: Buffer;
}

/** PSAM reset, terminal number, select DF01. */
export async function preparePsam(reader: CardReader, slot: number): Promise<PsamSession> {
  await reader.psamReset(slot);
  const t = await reader.psamApdu(slot, h("00b0960006"));
  if (sw(t) !== "9000") throw new Error(`PSAM terminal number: ${sw(t)}`);
  const sel = await reader.psamApdu(slot, h("00a4000002df01"));
  if (sw(sel) !== "9000") throw new Error(`PSAM select DF01: ${sw(sel)}`);
  return { terminalNo: body(t) };
}

export interface CardRead {
  file0015: Buffer;
  balance: number;
  file0019: Buffer;
}

/** Activate, select 1001, read 0015, balance, 0019. */
export async function readCard(reader: CardReader): Promise<CardRead> {
  await reader.activate();
  const sel = await reader.cardApdu(h("00a40000021001"));
  if (sw(sel) !== "9000") throw new Error(`select 1001: ${sw(sel)}`);
  const f15 = await reader.cardApdu(h("00b095002b"));
  const bal = await reader.cardApdu(h("805c000204"));
  const f19 = await reader.cardApdu(h("00b201cc2b"));
  for (const [n, r] of [
    ["0015", f15],
    ["balance", bal],
    ["0019", f19],
  ] as const) {
    if (sw(r) !== "9000") throw new Error(`read ${n}: ${sw(r)}`);
  }
  return { file0015: body(f15), balance: body(bal).readUInt32BE(0), file0019: body(f19) };
}

export interface Intent {
  /** INIT's answer: the offline serial this purchase uses, the random, key version, algorithm. */
  offlineSerial: number;
  balanceBefore: number;
  psamSerial: number;
  mac1: Buffer;
  transTime: string;
}

export interface BoothResult extends Intent {
  tac: string;
  mac2: string;
  mac2Verified: boolean;
}

/**
 * INIT + UPDATE CAPP DATA CACHE (one list), MAC1 on the PSAM, then `beforeDebit` (where the booth flow
 * persists its intent), then DEBIT alone, then MAC2 on the PSAM. Throws what the reader throws.
 */
export async function purchase(
  reader: CardReader,
  slot: number,
  psam: PsamSession,
  card: CardRead,
  amount: number,
  transTime: string,
  record0019: Card0019,
  beforeDebit?: (i: Intent) => void,
): Promise<BoothResult> {
  const amount4 = Buffer.alloc(4);
  amount4.writeUInt32BE(amount);
  const init = buildCommand("80500302", Buffer.concat([h("01"), amount4, psam.terminalNo]), 0x0f);
  const image = encode0019(record0019);
  const update = buildCommand("80dcaac8", image);
  const [ri, ru] = await reader.cardApduList([init, update]);
  if (sw(ri) !== "9000" || !ri) throw new Error(`INIT: ${sw(ri)}`);
  if (sw(ru) !== "9000") throw new Error(`UPDATE CAPP DATA CACHE: ${sw(ru)}`);
  const d = body(ri);
  const balanceBefore = d.readUInt32BE(0);
  const offlineSerial = d.readUInt16BE(4);
  const serial2 = d.subarray(4, 6);
  const keyVersion = d[9] as number;
  const algId = d[10] as number;
  const random = d.subarray(11, 15);
  const f15 = card.file0015;
  const cardSerial = f15.subarray(12, 20).toString("hex");
  const issuer = f15.subarray(0, 8).toString("hex");
  const mac1Cmd = buildCommand(
    "80700000",
    Buffer.concat([
      random,
      serial2,
      amount4,
      h("09"),
      h(transTime),
      Buffer.from([keyVersion, algId]),
      cardDivisor(cardSerial),
      issuerDivisor(issuer),
    ]),
    0x08,
  );
  const m1 = await reader.psamApdu(slot, mac1Cmd);
  if (sw(m1) !== "9000") throw new Error(`MAC1: ${sw(m1)}`);
  const psamSerial = body(m1).readUInt32BE(0);
  const mac1 = body(m1).subarray(4, 8);
  const intent: Intent = { offlineSerial, balanceBefore, psamSerial, mac1, transTime };
  beforeDebit?.(intent);
  const debit = buildCommand(
    "80540100",
    Buffer.concat([body(m1).subarray(0, 4), h(transTime.slice(0, 8)), h(transTime.slice(8)), mac1]),
    0x08,
  );
  const rd = await reader.cardApdu(debit);
  if (sw(rd) !== "9000") throw new Error(`DEBIT: ${sw(rd)}`);
  const tac = body(rd).subarray(0, 4);
  const mac2 = body(rd).subarray(4, 8);
  const v = await reader.psamApdu(slot, buildCommand("80720000", mac2));
  return { ...intent, tac: tac.toString("hex"), mac2: mac2.toString("hex"), mac2Verified: sw(v) === "9000" };
}

/**
 * GET TRANSACTION PROVE for the purchase that used `offlineSerial` (the command names the counter after it,
 * + 1): MAC2 ‖ TAC, or the status word.
 */
export async function prove(
  reader: CardReader,
  offlineSerial: number,
): Promise<{ tac: string; mac2: string } | { sw: string }> {
  const s = Buffer.alloc(2);
  s.writeUInt16BE((offlineSerial + 1) & 0xffff);
  const r = await reader.cardApdu(buildCommand("805a0009", s, 0x08));
  if (sw(r) !== "9000") return { sw: sw(r) };
  return { mac2: body(r).subarray(0, 4).toString("hex"), tac: body(r).subarray(4, 8).toString("hex") };
}

export function exitRecord0019(station = "0102", lane = 3, time = 1_735_783_200): Card0019 {
  return {
    applicationType: 0xaa,
    recordLength: 0x29,
    lockFlag: 0,
    network: "4301",
    station,
    lane,
    time,
    vehicleClass: 1,
    status: 4,
    flagStations: "000000000000000000",
    collectorId: "000000",
    shift: 0,
    plate: "",
    reserved: "00000000",
  };
}
