/**
 * The purchase the simulated RSU runs on the card and PSAM, as hardware does. The divisor factor a C6
 * carries reaches the PSAM as the first-level divisor for MAC1: a wrong one still gets a MAC1 (the PSAM's
 * transaction serial is used) and the card refuses DEBIT with 9302, so B5 carries ErrorCode 06 and
 * nothing is debited. An uncertain B5 reports the key version and algorithm the card's INIT gave.
 */

import iconv from "iconv-lite";
import { describe, expect, it } from "vitest";
import { encodeData } from "../../firmware-bridge/frames/catalogue.js";
import { type Dialect, defaultDialect, toWireUnix } from "../../firmware-bridge/frames/dialect.js";
import { encodeLegacy } from "../../firmware-bridge/framing/legacy.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { type CardKeys, loadCardKeys, parseCardKeys, TEST_KEYS_MARKER } from "../../sim/card/crypto/keys.js";
import { verifyTac } from "../../sim/card/crypto/tac-verify.js";
import type { SimCard } from "../../sim/card/sim-card.js";
import type { SimCardApi, SimPsamApi } from "../../sim/card/types.js";
import { cardEnvironment } from "../../sim/rsu/cards.js";
import { fieldBytes } from "../../sim/rsu/raw-fields.js";
import { createRsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import { CREDIT_NOTIONAL_BALANCE } from "../../sim/vehicles/vehicles.js";
import { next, simulatorsOnFakeTime, until, walkToB4 } from "./fake-time.js";
import { LaneDriver, swap } from "./lane-driver.js";

const keys = loadCardKeys();
const PT = "20250102100005";
/** "北京北京": another province's divisor; the scenario's card is issued in 湖南. */
const WRONG_DIV = "b1b1bea9b1b1bea9";

const running = simulatorsOnFakeTime();

async function setup(
  protocol: "legacy" | "national",
  o: {
    checkDivFactor?: boolean;
    keys?: CardKeys;
    faults?: unknown[];
    recentSuccessMs?: number;
    /** fields over the one vehicle's */
    vehicle?: Record<string, unknown>;
    /** the RSU's vendor dialect over the protocol's default */
    dialect?: Partial<Omit<Dialect, "variant">>;
    /** the RSU's PSAM as this makes it from the simulated one (wrap its APDUs) */
    psam?: (p: SimPsamApi) => SimPsamApi;
  } = {},
) {
  const { checkDivFactor } = o;
  const pair = createTransportPair();
  const env = cardEnvironment(o.keys ?? keys);
  const psams: SimPsamApi[] = [];
  const cards: SimCardApi[] = [];
  const sim = createRsuSimulator({
    transport: pair.device,
    protocol,
    seed: 3,
    cable: pair,
    ...(checkDivFactor === undefined ? {} : { checkDivFactor }),
    ...(o.dialect ? { dialect: o.dialect } : {}),
    cards: {
      createCard: (spec, random) => {
        const c = env.createCard(spec, random);
        cards.push(c);
        return c;
      },
      createPsam: (terminalNo) => {
        const made = env.createPsam(terminalNo);
        const p = o.psam ? o.psam(made) : made;
        psams.push(p);
        return p;
      },
    },
    scenario: {
      startTime: "2025-01-02T10:00:00+08:00",
      ...(o.recentSuccessMs === undefined ? {} : { rsu: { recentSuccessMs: o.recentSuccessMs } }),
      traffic: {
        vehicles: [
          { id: "car", plate: "湘A54321", balance: 8000, zoneMs: 5000, faults: o.faults ?? [], ...o.vehicle },
        ],
      },
    } as ScenarioInput,
  });
  const lane = new LaneDriver(pair.lane, protocol);
  await lane.open();
  await sim.start();
  running.push({ sim, lane });
  const { b4 } = await walkToB4(lane);
  const psam = psams.at(-1) as SimPsamApi;
  return { sim, lane, b4, psam, card: cards.at(-1) as SimCard };
}

/** The lane's C6 for the B4, with `div` as its divisor factor (undefined: the card issuer's). */
function c6(lane: LaneDriver, b4: Awaited<ReturnType<typeof setup>>["b4"], div?: string) {
  const f = lane.c6(b4.frame, 700, PT) as unknown as Record<string, unknown>;
  if (div !== undefined) f[lane.variant === "legacy" ? "cardDivFactor" : "obuDivFactor"] = div;
  return f as never;
}

/**
 * The B5 error the simulated RSU sends: the reference's short error form (docs/protocol.md §3), legacy
 * OBUID, ErrorCode, WrFileTime (the time of the 0019 the C6 asked to write), PSAMNo; national OBUID,
 * ErrorCode, PSAMNo, TransTime (the C6 PurchaseTime), TransType 09.
 */
function shortB5(
  protocol: "legacy" | "national",
  obuId: unknown,
  errorCode: number,
  psamNo: string,
  transTime = PT,
): Record<string, unknown> {
  if (protocol === "legacy") {
    const wrFileTime = toWireUnix(defaultDialect("legacy"), Date.UTC(2025, 0, 2, 4, 0, 0));
    return { type: "B5", obuId, errorCode, wrFileTime, psamNo };
  }
  return { type: "B5", obuId, errorCode, psamNo, transTime, transType: 9 };
}

describe.each(["legacy", "national"] as const)("%s C6 divisor factor", (protocol) => {
  it("a wrong divisor: the PSAM's serial is used, the card refuses DEBIT, B5 ErrorCode 06, nothing debited", async () => {
    const { sim, lane, b4, psam } = await setup(protocol);
    const serialBefore = psam.nextSerial;
    const cardBefore = sim.cards()[0];
    await lane.send(c6(lane, b4, WRONG_DIV), b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0x06);
    expect(b5.frame).toEqual(shortB5(protocol, b4.frame.obuId, 0x06, psam.terminalNo));
    expect(psam.nextSerial).toBe(serialBefore + 1);
    expect(sim.cards()[0]).toMatchObject({
      balance: cardBefore?.balance,
      offlineSerial: cardBefore?.offlineSerial,
    });
    expect(sim.ledger()).toEqual([]);
  });

  it("the card issuer's divisor: paid, the TAC verifies", async () => {
    const { sim, lane, b4 } = await setup(protocol);
    await lane.send(c6(lane, b4), b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    expect(sim.cards()[0]?.balance).toBe(8000 - 700);
    expect(sim.ledger()).toMatchObject([{ outcome: "done", amount: 700 }]);
    expect(sim.ledger().map((e) => verifyTac(e, keys).ok)).toEqual([true]);
  });

  it("checkDivFactor false: a wrong divisor is not used, the card's own is, and the purchase is paid", async () => {
    const { sim, lane, b4 } = await setup(protocol, { checkDivFactor: false });
    await lane.send(c6(lane, b4, WRONG_DIV), b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    expect(sim.cards()[0]?.balance).toBe(8000 - 700);
    expect(sim.ledger()).toMatchObject([{ outcome: "done", amount: 700 }]);
  });
});

/**
 * Sends `frame` answering `to` with its DATA changed by `patch` first: bytes the frame encoder would not
 * write (a plate padded with FF, which is no GB2312 text). Encoded in `dialect` (default the lane's);
 * returns the DATA sent.
 */
async function sendPatched(
  lane: LaneDriver,
  frame: never,
  to: { wire: { seq: number } },
  patch: (data: Buffer) => void,
  dialect: Dialect = lane.dialect,
): Promise<Buffer> {
  const data = encodeData(frame, dialect);
  patch(data);
  const seq = swap(to.wire.seq);
  const raw = lane.variant === "legacy" ? encodeLegacy(seq, data) : encodeNational(seq, data);
  await lane.ch.sendEncoded(frame, seq, raw);
  return data;
}

describe.each(["legacy", "national"] as const)("%s C6 0019 bytes", (protocol) => {
  it("the card gets the C6's 0019 byte for byte: a plate padded with FF keeps its FF", async () => {
    const { lane, b4, card } = await setup(protocol);
    const plate = iconv.encode("湘A54321", "gbk"); // 8 of the 12 bytes; the encoder pads with 00
    await sendPatched(lane, c6(lane, b4), b4, (data) => {
      const at = data.indexOf(plate);
      data.fill(0xff, at + plate.length, at + 12);
    });
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    // the AA record: header 3, network 2, station 2, lane 1, time 4, class 1, status 1, flags 9,
    // collector 3, shift 1, then the plate 12
    const stored = card.files().file0019;
    expect(stored.subarray(0, 3).toString("hex")).toBe("aa2900");
    expect(stored.subarray(27, 39).toString("hex")).toBe(`${plate.toString("hex")}ffffffff`);
  });

  it("B4 LastStation is the card's 0019 as read: the FF padding a lane wrote comes back to the next lane", async () => {
    const { sim, lane, b4, card } = await setup(protocol);
    const plate = iconv.encode("湘A54321", "gbk");
    await sendPatched(lane, c6(lane, b4), b4, (data) => {
      const at = data.indexOf(plate);
      data.fill(0xff, at + plate.length, at + 12);
    });
    const b5 = await until(lane.expectFrame("B5"));
    const ended = next(sim.events$, (e) => e.type === "ended");
    await lane.send(lane.c1(b4.frame.obuId as string), b5);
    await until(ended);
    // the same card in another vehicle: the RSU reads its 0019 into B4
    sim.addVehicle({ at: 10, plate: "湘A54321", zoneMs: 5000, card: { serial: card.cardId.slice(4) } });
    const again = await walkToB4(lane);
    expect(again.b4.wire.data.toString("hex")).toContain(`${plate.toString("hex")}ffffffff`);
  });
});

describe("national C6 0019 header", () => {
  it("a Station whose header is not AA 29: the card refuses UPDATE CAPP DATA CACHE, B5 11, nothing debited", async () => {
    const { sim, lane, b4, psam, card } = await setup("national");
    const before = card.files().file0019;
    const balance = sim.cards()[0]?.balance;
    const serialBefore = psam.nextSerial;
    const f = c6(lane, b4) as unknown as { station: Record<string, unknown> };
    f.station = { ...f.station, applicationType: 0, recordLength: 0 };
    await lane.send(f as never, b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame).toEqual(shortB5("national", b4.frame.obuId, 0x11, psam.terminalNo));
    // UPDATE comes before MAC1: no PSAM serial used, the card untouched, no ledger line
    expect(psam.nextSerial).toBe(serialBefore);
    expect(sim.cards()[0]?.balance).toBe(balance);
    expect(card.files().file0019).toEqual(before);
    expect(sim.ledger()).toEqual([]);
  });
});

/** The plate the scenario's card carries, padded with FF where the encoder pads with 00 (no GB2312 text). */
const PLATE = iconv.encode("湘A54321", "gbk");
function padPlateWithFF(data: Buffer): void {
  const at = data.indexOf(PLATE);
  data.fill(0xff, at + PLATE.length, at + 12);
}

/** The lane's C3 for the B4 (legacy: a 36-byte Station, national: a 40-byte one with `reserved`). */
function c3(lane: LaneDriver, b4: Awaited<ReturnType<typeof setup>>["b4"], reserved = "00000000") {
  const f6 = lane.c6(b4.frame, 0, PT) as unknown as Record<string, unknown>;
  const { applicationType, recordLength, lockFlag, ...body } = f6.station as Record<string, unknown>;
  if (lane.variant === "legacy")
    return {
      type: "C3",
      obuId: f6.obuId,
      cardDivFactor: f6.cardDivFactor,
      transSerial: 0,
      purchaseTime: PT,
      station: body,
    } as never;
  return { type: "C3", obuId: f6.obuId, station: { ...body, reserved }, enTime: PT } as never;
}

describe("0019 bytes of a Station without its header", () => {
  it("legacy C6 with stationLength 36: the card gets AA 29 00, the 36 bytes as sent, a zero reserve", async () => {
    const dialect = { stationLength: 36 } as const;
    const { sim, lane, b4, card } = await setup("legacy", { dialect });
    const data = await sendPatched(lane, c6(lane, b4), b4, padPlateWithFF, { ...lane.dialect, ...dialect });
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    const station = fieldBytes(data, { ...lane.dialect, ...dialect }, "station") as Buffer;
    expect([station.length, station.includes(Buffer.concat([PLATE, Buffer.alloc(4, 0xff)]))]).toEqual([
      36,
      true,
    ]);
    expect(card.files().file0019.toString("hex")).toBe(`aa2900${station.toString("hex")}00000000`);
    expect(sim.ledger()).toMatchObject([{ command: "C6", amount: 700, outcome: "done" }]);
  });

  it("legacy C3 (36 bytes in every dialect): the card gets AA 29 00, the 36 bytes as sent, a zero reserve", async () => {
    const { sim, lane, b4, card } = await setup("legacy");
    const data = await sendPatched(lane, c3(lane, b4), b4, padPlateWithFF);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    const station = fieldBytes(data, lane.dialect, "station") as Buffer;
    expect([station.length, station.includes(Buffer.concat([PLATE, Buffer.alloc(4, 0xff)]))]).toEqual([
      36,
      true,
    ]);
    expect(card.files().file0019.toString("hex")).toBe(`aa2900${station.toString("hex")}00000000`);
    expect(sim.ledger()).toMatchObject([{ command: "C3", amount: 0, outcome: "done" }]);
  });

  it("national C3 (a 40-byte Station): the card gets AA 29 00 and the 40 bytes as sent, its reserve included", async () => {
    const { sim, lane, b4, card } = await setup("national");
    const data = await sendPatched(lane, c3(lane, b4, "01020304"), b4, padPlateWithFF);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    const station = fieldBytes(data, lane.dialect, "station") as Buffer;
    expect([station.length, station.subarray(36).toString("hex")]).toEqual([40, "01020304"]);
    expect(station.includes(Buffer.concat([PLATE, Buffer.alloc(4, 0xff)]))).toBe(true);
    expect(card.files().file0019.toString("hex")).toBe(`aa2900${station.toString("hex")}`);
    expect(sim.ledger()).toMatchObject([{ command: "C3", amount: 0, outcome: "done" }]);
  });
});

describe.each(["legacy", "national"] as const)("%s card older than version 0x40", (protocol) => {
  it.each([
    ["legacy63", { version: 0x30 }, "c13d00"],
    ["guangdong60", { version: 0x30, network: "4401" }, "443a00"],
  ] as const)(
    "%s: B4 LastStation is its 0019 as read, the first 43 bytes of the record under the card's own header",
    async (_, cardSpec, header) => {
      const { lane, b4, card } = await setup(protocol, { vehicle: { card: cardSpec } });
      const record = card.record0019();
      expect(record.subarray(0, 3).toString("hex")).toBe(header);
      expect(fieldBytes(b4.wire.data, lane.dialect, "lastStation")).toEqual(record.subarray(0, 43));
    },
  );

  it("a C6's 0019 goes in as the lock byte and body under the card's own header, whatever header the lane sent", async () => {
    const { sim, lane, b4, card } = await setup(protocol, { vehicle: { card: { version: 0x30 } } });
    const f = c6(lane, b4) as unknown as { station: Record<string, unknown> };
    // national: a header a card of version 0x40 would refuse (6A80); legacy C6 carries none
    if (protocol === "national") f.station = { ...f.station, applicationType: 0, recordLength: 0 };
    const sent = fieldBytes(encodeData(f as never, lane.dialect), lane.dialect, "station") as Buffer;
    await lane.send(f as never, b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    const body = protocol === "national" ? sent.subarray(3) : sent;
    const record = card.record0019();
    expect(record.toString("hex")).toBe(`c13d00${body.toString("hex")}${"00".repeat(20)}`);
    expect(sim.ledger()).toMatchObject([{ outcome: "done", amount: 700 }]);
  });
});

describe.each(["legacy", "national"] as const)("%s C1 divisor factor", (protocol) => {
  /** What B3 carries of the vehicle file: legacy plate and more, national the whole file. */
  const vehicleFile =
    protocol === "legacy"
      ? { plateNumber: "湘A54321" }
      : { vehicleInfo: expect.objectContaining({ plate: "湘A54321" }) };
  /** The RSU up to the first OBU's B2 (whose issuer the C1 divisor must come from). */
  async function toB2(checkDivFactor?: boolean) {
    const pair = createTransportPair();
    const sim = createRsuSimulator({
      transport: pair.device,
      protocol,
      seed: 3,
      ...(checkDivFactor === undefined ? {} : { checkDivFactor }),
      scenario: {
        startTime: "2025-01-02T10:00:00+08:00",
        traffic: { vehicles: [{ id: "car", plate: "湘A54321", balance: 8000, zoneMs: 5000 }] },
      } as ScenarioInput,
    });
    const lane = new LaneDriver(pair.lane, protocol);
    await lane.open();
    await sim.start();
    running.push({ sim, lane });
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    return { sim, lane, b2, obuId: b2.frame.obuId as string };
  }

  it.each([
    ["zeros", "00".repeat(8)],
    ["another issuer's", WRONG_DIV],
  ])(
    "%s: B3 ErrorCode 09 (OBUID + ErrorCode), no vehicle file; the lane's C1 ends the transaction",
    async (_, div) => {
      const { sim, lane, b2, obuId } = await toB2();
      expect((b2.frame.issuerIdentifier as string).slice(0, 8)).not.toBe(div.slice(0, 8));
      await lane.send(lane.c1(obuId, div), b2);
      const b3 = await until(lane.expectFrame("B3"));
      expect(b3.frame).toEqual({ type: "B3", obuId, errorCode: 0x09 });
      const ended = next(sim.events$, (e) => e.type === "ended");
      await lane.send(lane.c1(obuId), b3);
      expect(await until(ended)).toMatchObject({ outcome: "failed", detail: "C1 after B3 error" });
      expect(sim.ledger()).toEqual([]);
    },
  );

  it("the OBU issuer's first 4 bytes twice: B3 with the vehicle file", async () => {
    const { lane, b2, obuId } = await toB2();
    const head = (b2.frame.issuerIdentifier as string).slice(0, 8);
    await lane.send(lane.c1(obuId, `${head}${head}`), b2);
    const b3 = await until(lane.expectFrame("B3"));
    expect(b3.frame).toMatchObject({ obuId, errorCode: 0, ...vehicleFile });
  });

  it("checkDivFactor false: a zero divisor still gets B3 with the vehicle file", async () => {
    const { lane, b2, obuId } = await toB2(false);
    await lane.send(lane.c1(obuId, "00".repeat(8)), b2);
    const b3 = await until(lane.expectFrame("B3"));
    expect(b3.frame).toMatchObject({ obuId, errorCode: 0, ...vehicleFile });
  });
});

describe.each(["legacy", "national"] as const)("%s credit card", (protocol) => {
  it("a credit card the scenario gives no balance pays a 150-yuan toll from its notional balance", async () => {
    const { sim, lane, b4 } = await setup(protocol, { vehicle: { balance: undefined, cardType: 23 } });
    expect(b4.frame.cardRestMoney).toBe(CREDIT_NOTIONAL_BALANCE);
    await lane.send(lane.c6(b4.frame, 15_000, PT), b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    expect(sim.ledger()).toMatchObject([{ cardType: 23, amount: 15_000, outcome: "done" }]);
  });
});

describe.each(["legacy", "national"] as const)("%s C6 PurchaseTime", (protocol) => {
  it("not a calendar date-time: the RSU refuses it before INIT, B5 ErrorCode 11, no PSAM serial used", async () => {
    const { sim, lane, b4, psam } = await setup(protocol);
    const serial = psam.nextSerial;
    const cardBefore = sim.cards()[0];
    const f = c6(lane, b4) as Record<string, unknown>;
    f.purchaseTime = "20250102240000";
    await lane.send(f as never, b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0x11);
    // the short error form: its TransTime is the PurchaseTime as the lane sent it
    expect(b5.frame).toEqual(shortB5(protocol, b4.frame.obuId, 0x11, psam.terminalNo, "20250102240000"));
    expect(b5.wire.data.length - 1).toBe(protocol === "legacy" ? 15 : 19);
    expect(psam.nextSerial).toBe(serial);
    expect(sim.cards()[0]).toEqual(cardBefore);
  });
});

describe("national uncertain B5", () => {
  // Keys of key version 2: the card's INIT answers it, and so must a B5 that reports the attempt.
  const keys2 = parseCardKeys({
    marker: TEST_KEYS_MARKER,
    keyVersion: 2,
    purchaseMasterKey: "E8C88C975C4A8F44AC436C7CFD44A039",
    tacMasterKey: "1455850D84B02127D69F9C4A172B7F2E",
  });

  it.each([
    ["torn before the debit", "leave-during-debit"],
    ["torn after the debit", { kind: "b5-lost", lingerMs: 3000 }],
  ])("%s: KeyVersion and AlgFlag are the card's INIT answer's", async (_name, fault) => {
    const { lane, b4, psam } = await setup("national", { keys: keys2, faults: [fault] });
    const serial = psam.nextSerial;
    await lane.send(c6(lane, b4), b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame).toMatchObject({
      errorCode: 1,
      keyVersion: 2,
      algFlag: 0,
      iccPaySerial: 1,
      psamTransSerial: serial,
      cardBalance: 8000,
    });
  });
});

describe("national C6 OBUTradeType", () => {
  /** The C6's EF04Info: what 00 and 01 write to the OBU's EF04. */
  const EF04 = "a5".repeat(91);

  async function tradeType(obuTradeType: number, o: { recentSuccessMs?: number; amount?: number } = {}) {
    const s = await setup("national", o);
    const cardBefore = s.sim.cards()[0];
    const serialBefore = s.psam.nextSerial;
    const f: Record<string, unknown> = { ...(c6(s.lane, s.b4) as object), obuTradeType, ef04Info: EF04 };
    if (o.amount !== undefined) f.consumeMoney = o.amount;
    await s.lane.send(f as never, s.b4);
    const b5 = await until(s.lane.expectFrame("B5"));
    return { ...s, b5, cardBefore, serialBefore, obuId: s.b4.frame.obuId as string };
  }

  it("01 EF04 only: the EF04 is written, no purchase runs (card, PSAM, ledger untouched), B5 00 without a TAC", async () => {
    const { sim, lane, b5, cardBefore, serialBefore, psam, obuId } = await tradeType(0x01);
    expect(b5.frame).toEqual({
      type: "B5",
      obuId,
      errorCode: 0,
      psamNo: psam.terminalNo,
      transTime: PT,
      transType: 0,
    });
    expect(sim.ledger()).toEqual([]);
    expect(sim.cards()[0]).toEqual(cardBefore);
    expect(psam.nextSerial).toBe(serialBefore);
    expect(sim.ef04(obuId)).toBe(EF04);
    const ended = next(sim.events$, (e) => e.type === "ended");
    await lane.send(lane.c1(obuId), b5);
    expect(await until(ended)).toMatchObject({ outcome: "ef04-written", detail: "C1 after B5" });
  });

  it("01 EF04 only, the B5 00 never answered: given up, the OBU counts as ef04-written, not traded", async () => {
    const { sim } = await tradeType(0x01);
    const ended = next(sim.events$, (e) => e.type === "ended");
    const done = next(sim.events$, (e) => e.type === "done");
    expect(await until(ended)).toMatchObject({ outcome: "ef04-written", detail: "no answer to B5" });
    expect(await until(done)).toMatchObject({ outcome: "ef04-written" });
    expect(sim.vehicles().map((v) => [v.id, v.outcome])).toEqual([["car", "ef04-written"]]);
  });

  it("the EF04 a C6 01 wrote is the OBU's: its next B4 carries it", async () => {
    const { sim, lane, b4, b5, obuId } = await tradeType(0x01, { recentSuccessMs: 1 });
    expect(b4.frame.ef04Info).toBe("00".repeat(91));
    const ended = next(sim.events$, (e) => e.type === "ended");
    await lane.send(lane.c1(obuId), b5);
    await until(ended);
    // the same OBU comes back (another vehicle, another card): the RSU reads its EF04 into B4
    sim.addVehicle({ at: 10, obu: { obuId }, balance: 100, zoneMs: 5000 });
    const b2 = await until(lane.expectFrame("B2"));
    await lane.send(lane.c1(obuId), b2);
    const b3 = await until(lane.expectFrame("B3"));
    await lane.send(lane.c1(obuId), b3);
    const again = await until(lane.expectFrame("B4"));
    expect([again.frame.obuId, again.frame.cardRestMoney, again.frame.ef04Info]).toEqual([obuId, 100, EF04]);
  });

  it("02 purchase only: the card pays, the EF04 is not written", async () => {
    const { sim, b5, obuId } = await tradeType(0x02);
    expect(b5.frame).toMatchObject({ errorCode: 0, tac: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(sim.ledger()).toMatchObject([{ outcome: "done", amount: 700 }]);
    expect(sim.ef04(obuId)).toBeUndefined();
  });

  it("00 EF04 + purchase: the card pays and the EF04 is written", async () => {
    const { sim, b5, obuId } = await tradeType(0x00);
    expect(b5.frame).toMatchObject({ errorCode: 0, tac: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(sim.ledger()).toMatchObject([{ outcome: "done", amount: 700 }]);
    expect(sim.ef04(obuId)).toBe(EF04);
  });

  it("00 EF04 + purchase, the card refuses the purchase (balance too low): B5 12, EF04 written but purchase failed", async () => {
    const { sim, b5, cardBefore, psam, obuId } = await tradeType(0x00, { amount: 999_999 });
    expect(b5.frame).toEqual(shortB5("national", obuId, 0x12, psam.terminalNo));
    expect(sim.ef04(obuId)).toBe(EF04);
    expect(sim.ledger()).toEqual([]);
    expect(sim.cards()[0]?.balance).toBe(cardBefore?.balance);
  });

  it("02 purchase only, the card refuses the purchase: B5 11 (purchase-only failed), no EF04 written", async () => {
    const { sim, b5, psam, obuId } = await tradeType(0x02, { amount: 999_999 });
    expect(b5.frame).toEqual(shortB5("national", obuId, 0x11, psam.terminalNo));
    expect(sim.ef04(obuId)).toBeUndefined();
  });

  describe("C8 EF04CmdType 01 (TAC and write EF04)", () => {
    const EF04_C8 = "22".repeat(91);
    const c8 = (obuId: string, epSerial: number, ef04CmdType: number) =>
      ({ type: "C8", obuId, epSerial, ef04CmdType, ef04Info: EF04_C8, ef04Info2: "00".repeat(5) }) as never;

    it("after a paid C6 02: B8 00 with the TAC, and the C8's EF04Info is written", async () => {
      const { sim, lane, b5, obuId } = await tradeType(0x02);
      await lane.send(c8(obuId, b5.frame.iccPaySerial as number, 1), b5);
      const b8 = await until(lane.expectFrame("B8"));
      expect(b8.frame).toMatchObject({ obuId, errorCode: 0, tac: b5.frame.tac });
      expect(sim.ef04(obuId)).toBe(EF04_C8);
    });

    it("no purchase with that serial: B8 03 (EF04 written but TAC failed), the EF04 written", async () => {
      const { sim, lane, b5, obuId } = await tradeType(0x02);
      await lane.send(c8(obuId, 99, 1), b5);
      const b8 = await until(lane.expectFrame("B8"));
      expect(b8.frame).toEqual({ type: "B8", obuId, errorCode: 3 });
      expect(sim.ef04(obuId)).toBe(EF04_C8);
    });

    it("EF04CmdType 00 (TAC only) with EF04 data: B8 00, the EF04 not written", async () => {
      const { sim, lane, b5, obuId } = await tradeType(0x02);
      await lane.send(c8(obuId, b5.frame.iccPaySerial as number, 0), b5);
      expect((await until(lane.expectFrame("B8"))).frame).toMatchObject({ errorCode: 0 });
      expect(sim.ef04(obuId)).toBeUndefined();
    });
  });

  it.each([0x03, 0xff])(
    "%i is no trade type: B5 ErrorCode 02 (decode error), nothing written or debited",
    async (t) => {
      const { sim, b5, cardBefore, serialBefore, psam, obuId } = await tradeType(t);
      expect(b5.frame).toEqual(shortB5("national", obuId, 0x02, psam.terminalNo));
      expect(sim.ledger()).toEqual([]);
      expect(sim.cards()[0]).toEqual(cardBefore);
      expect(psam.nextSerial).toBe(serialBefore);
      expect(sim.ef04(obuId)).toBeUndefined();
    },
  );
});

describe.each(["legacy", "national"] as const)(
  "%s PSAM rejecting MAC2 after the card debited",
  (protocol) => {
    /** The PSAM answers its MAC2 check (8072) with 9302: the card has debited by then (E714). */
    const rejectsMac2 = (p: SimPsamApi): SimPsamApi => {
      const run = p.apdu?.bind(p);
      if (!run) throw new Error("an APDU-level PSAM is needed");
      p.apdu = (c: Buffer): Buffer => (c[0] === 0x80 && c[1] === 0x72 ? Buffer.from("9302", "hex") : run(c));
      return p;
    };

    it("the uncertain B5 (the list's MAC2 code: national 07, legacy 19h; TAC 00000000) and one ledger line; a C8 gets the card's TAC", async () => {
      const { sim, lane, b4, psam } = await setup(protocol, { psam: rejectsMac2 });
      const serial = psam.nextSerial;
      await lane.send(c6(lane, b4), b4);
      const b5 = await until(lane.expectFrame("B5"));
      // before: B5 ErrorCode 11 (refused: "nothing debited") and no ledger line, though the card paid
      expect(b5.frame).toMatchObject({
        errorCode: protocol === "legacy" ? 0x19 : 0x07,
        tac: "00000000",
        iccPaySerial: 1,
        psamTransSerial: serial,
        cardBalance: 8000,
      });
      expect(sim.cards()[0]).toMatchObject({ balance: 7300, offlineSerial: 2 });
      const [entry] = sim.ledger();
      expect(sim.ledger()).toHaveLength(1);
      expect(entry).toMatchObject({
        amount: 700,
        iccPaySerial: 1,
        psamTransSerial: serial,
        transTime: PT,
        outcome: "torn-after-debit",
      });
      expect(verifyTac(entry!, keys).ok).toBe(true);
      // the lane's C8 for the serial the B5 reported: B8 with the card's TAC
      await lane.send(lane.c8(b5.frame.obuId as string, 1), b5);
      const b8 = await until(lane.expectFrame("B8"));
      expect(b8.frame).toMatchObject({ errorCode: 0, tac: entry!.tac });
    });
  },
);
