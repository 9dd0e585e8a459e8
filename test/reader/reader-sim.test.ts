/**
 * The simulated reader (sim/reader) against the host driver over an in-process pair, with fake timers:
 * the composite purchase end to end (TAC verifies), 61xx resolved on the reader side, and every fault:
 * card removed before / after DEBIT commits, card mute, a TAC of all zeros, PSAM error / absent / mute, bad checksum,
 * garbled bytes, slow reader with WAIT frames, BUSY, NAK, unplug and replug, noise, a hold until release;
 * the scripted mode.
 */
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { EtcError } from "../../firmware-bridge/errors.js";
import { CARD_APDU, CARD_EVENT, INFO, PSAM_RESET, WAIT } from "../../firmware-bridge/reader/commands.js";
import { ReaderDeframer } from "../../firmware-bridge/reader/deframer.js";
import { ReaderErrorCodes } from "../../firmware-bridge/reader/errors.js";
import { encodeReaderFrame } from "../../firmware-bridge/reader/frame.js";
import { FramedCardReader } from "../../firmware-bridge/reader/framed-card-reader.js";
import type { ReaderOptionsInput } from "../../firmware-bridge/reader/options.js";
import { createTransportPair, type TransportPair } from "../../firmware-bridge/transport/pair.js";
import { CardStore } from "../../sim/card/card-store.js";
import { verifyTac } from "../../sim/card/crypto/tac-verify.js";
import { describeEvent } from "../../sim/cli/commands/reader.js";
import { memoryLedger } from "../../sim/ledger/ledger.js";
import { parseReaderFault, type ReaderFault } from "../../sim/reader/faults.js";
import type { ReaderSimEvent } from "../../sim/reader/reader-simulator.js";
import {
  DEFAULT_SIM_PSAM,
  ReaderSimulator,
  type ReaderSimulatorOptions,
} from "../../sim/reader/reader-simulator.js";
import { parseReaderScenario } from "../../sim/reader/scenario.js";
import { parseScriptLine, runScript, runStepsFrom, type ScriptStep } from "../../sim/reader/script.js";
import { body, exitRecord0019, h, preparePsam, prove, purchase, readCard, sw } from "./booth-purchase.js";
import { settle } from "./harness.js";

const CARD_A = "43012200000000000001";
const CARD_B = "43012200000000000002";
const TIME = "20250102100005";

interface Rig {
  pair: TransportPair;
  store: CardStore;
  sim: ReaderSimulator;
  reader: FramedCardReader;
  events: ReaderSimEvent[];
}
const rigs: Rig[] = [];

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.reader.close();
    await r.sim.stop();
  }
  vi.useRealTimers();
});

async function rig(
  options: ReaderOptionsInput = {},
  simOptions: Partial<ReaderSimulatorOptions> = {},
): Promise<Rig> {
  const pair = createTransportPair({ names: ["pair:lane-reader", "pair:sim-reader"] });
  const store = new CardStore({ seed: 7, ledger: memoryLedger() });
  store.fromSpec({ cardId: CARD_A, province: "湖南", balance: 10_000, offlineSerial: 3 });
  store.fromSpec({ cardId: CARD_B, province: "湖南", balance: 500 });
  const sim = new ReaderSimulator({ transport: pair.device, store, cable: pair, ...simOptions });
  const events: ReaderSimEvent[] = [];
  sim.events$.subscribe((e) => events.push(e));
  await sim.start();
  const reader = new FramedCardReader({
    transport: pair.lane,
    options: { pingIntervalMs: 0, reconnect: { initialDelayMs: 100, jitter: 0 }, ...options },
    now: () => Date.now(),
    random: () => 0.5,
  });
  const opening = reader.open();
  await vi.advanceTimersByTimeAsync(simOptions.latencyMs ?? 0); // INFO is answered after the latency
  await opening;
  const r = { pair, store, sim, reader, events };
  rigs.push(r);
  return r;
}

/** CARD_APDU SELECT 1001 as command SEQ 0x42 with one byte flipped: it reaches the reader corrupted. */
function corruptedCardApdu(): Buffer {
  const bad = Buffer.from(encodeReaderFrame(0x42, CARD_APDU.code, 0, h("00a40000021001")));
  bad[7] = (bad[7] as number) ^ 0xff;
  return bad;
}

/** The hex of every frame the reader sends the lane from now on, as it arrives. */
function framesToLane(r: Rig): string[] {
  const seen: string[] = [];
  const d = new ReaderDeframer();
  r.pair.lane.data$.subscribe((c) => {
    for (const e of d.push(c, Date.now())) if (e.kind === "frame") seen.push(e.frame.raw.toString("hex"));
  });
  return seen;
}

async function fail(p: Promise<unknown>): Promise<EtcError> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: EtcError) => e,
  );
}

/** The error a promise rejects with once it has, read without awaiting it (no hang when it never does). */
function settled(p: Promise<unknown>): { error?: EtcError } {
  const o: { error?: EtcError } = {};
  p.catch((e: EtcError) => {
    o.error = e;
  });
  return o;
}

/** The fault events of a run, as the CLI prints them (describeEvent). */
const faultLines = (events: readonly ReaderSimEvent[]): (string | undefined)[] =>
  events.filter((e) => e.type === "fault").map((e) => describeEvent(e));

describe("the composite purchase through the simulated reader", () => {
  it("reads the card, debits with the PSAM, the TAC verifies, the ledger says booth", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    const psam = await preparePsam(r.reader, 1);
    expect(psam.terminalNo.toString("hex")).toBe("430100000099");
    const card = await readCard(r.reader);
    expect(card.balance).toBe(10_000);
    const out = await purchase(r.reader, 1, psam, card, 1250, TIME, exitRecord0019());
    expect(out).toMatchObject({ offlineSerial: 3, balanceBefore: 10_000, mac2Verified: true, psamSerial: 1 });
    const [entry] = r.store.ledger();
    expect(entry).toMatchObject({
      seq: 1,
      path: "booth",
      command: "DEBIT",
      outcome: "done",
      cardId: CARD_A,
      amount: 1250,
      tac: out.tac,
      iccPaySerial: 3,
      psamNo: "430100000099",
      psamTransSerial: 1,
      balanceAfter: 8750,
      station: { network: "4301", station: "0102", lane: 3, status: 4 },
    });
    expect(verifyTac(entry!, r.store.keys).ok).toBe(true);
    expect(r.store.get(CARD_A)?.snapshot()).toMatchObject({ balance: 8750, offlineSerial: 4 });
    // 0018 record 1 shows the purchase (serial 3, 1250 fen, type 09).
    const rec = await r.reader.cardApdu(h("00b201c417"));
    expect(body(rec).subarray(0, 2).toString("hex")).toBe("0003");
    expect(body(rec).readUInt32BE(5)).toBe(1250);
    expect(body(rec)[9]).toBe(9);
  });

  it("the T=0 PSAM's 61xx never reaches the host: the reader sent GET RESPONSE itself", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    const psam = await preparePsam(r.reader, 1);
    const card = await readCard(r.reader);
    await purchase(r.reader, 1, psam, card, 100, TIME, exitRecord0019());
    const replies = r.events.filter((e) => e.type === "reply" && e.name === "PSAM_APDU");
    expect(replies.every((e) => e.type === "reply" && e.status === "ok")).toBe(true);
    // A 6Cxx from the card (Le too long for 0015) is resolved the same way.
    const f15 = await r.reader.cardApdu(h("00b0950030"));
    expect(sw(f15)).toBe("9000");
    expect(body(f15)).toHaveLength(43);
  });

  it("INIT refused for a low balance: the list stops there (UPDATE never runs)", async () => {
    const r = await rig();
    r.sim.present(CARD_B);
    const psam = await preparePsam(r.reader, 1);
    const card = await readCard(r.reader);
    const err = await fail(purchase(r.reader, 1, psam, card, 900, TIME, exitRecord0019()));
    expect(err.message).toMatch(/INIT: 9401/);
    const reply = r.events.filter((e) => e.type === "reply" && e.name === "CARD_APDU_LIST");
    expect(reply).toHaveLength(1);
    expect(r.store.ledger()).toHaveLength(0);
  });

  it("CARD_APDU before CARD_ACTIVATE: the card does not answer (CARD_MUTE); no card: NO_CARD", async () => {
    const r = await rig();
    expect((await fail(r.reader.activate())).code).toBe(ReaderErrorCodes.NoCard);
    r.sim.present(CARD_A);
    expect((await fail(r.reader.cardApdu(h("00a40000021001")))).code).toBe(ReaderErrorCodes.CardMute);
    await r.reader.activate();
    expect(sw(await r.reader.cardApdu(h("00a40000021001")))).toBe("9000");
    await r.reader.halt();
    expect((await fail(r.reader.cardApdu(h("00a40000021001")))).code).toBe(ReaderErrorCodes.CardMute);
  });
});

describe("card removed during DEBIT", () => {
  async function toDebit(r: Rig) {
    r.sim.present(CARD_A);
    const psam = await preparePsam(r.reader, 1);
    const card = await readCard(r.reader);
    return { psam, card };
  }

  it("after DEBIT committed: E802 (may have run), card event, ledger torn; the same card proves the TAC", async () => {
    const r = await rig();
    const kinds: string[] = [];
    r.reader.cardEvents$.subscribe((e) => kinds.push(e.kind));
    const { psam, card } = await toDebit(r);
    r.sim.inject({ kind: "card-removed-after-debit" });
    let intent: { offlineSerial: number } | undefined;
    const err = await fail(
      purchase(r.reader, 1, psam, card, 700, TIME, exitRecord0019(), (i) => {
        intent = i;
      }),
    );
    expect(err.code).toBe(ReaderErrorCodes.CardRemoved);
    expect(err.details?.executed).toBe("unknown");
    await settle();
    expect(kinds).toEqual(["inserted", "removed"]);
    const [entry] = r.store.ledger();
    expect(entry).toMatchObject({ outcome: "torn-after-debit", amount: 700, iccPaySerial: 3, path: "booth" });
    // The collector puts the card back: the same card (0015 serial), GET TRANSACTION PROVE for the serial.
    r.sim.present(CARD_A);
    const again = await readCard(r.reader);
    expect(again.file0015.equals(card.file0015)).toBe(true);
    expect(again.balance).toBe(10_000 - 700);
    const p = await prove(r.reader, intent!.offlineSerial);
    expect(p).toEqual({ tac: entry!.tac, mac2: entry!.mac2 });
    expect(verifyTac(entry!, r.store.keys).ok).toBe(true);
  });

  it("before DEBIT committed: E802, nothing debited, 805A says 9406, a new INIT gives the same serial", async () => {
    const r = await rig();
    const { psam, card } = await toDebit(r);
    r.sim.inject({ kind: "card-removed-before-debit" });
    const err = await fail(purchase(r.reader, 1, psam, card, 700, TIME, exitRecord0019()));
    expect(err.code).toBe(ReaderErrorCodes.CardRemoved);
    expect(r.store.ledger()).toHaveLength(0);
    r.sim.present(CARD_A);
    const again = await readCard(r.reader);
    expect(again.balance).toBe(10_000);
    expect(await prove(r.reader, 3)).toEqual({ sw: "9406" });
    const out = await purchase(
      r.reader,
      1,
      await preparePsam(r.reader, 1),
      again,
      700,
      TIME,
      exitRecord0019(),
    );
    expect(out.offlineSerial).toBe(3);
    expect(r.store.ledger()).toHaveLength(1);
  });

  it("a removal fault on another INS leaves DEBIT alone (remove-card with an APDU match)", async () => {
    const r = await rig();
    const { psam, card } = await toDebit(r);
    r.sim.inject({ kind: "remove-card", when: { target: "card", ins: "50" } });
    const err = await fail(purchase(r.reader, 1, psam, card, 700, TIME, exitRecord0019()));
    expect(err.code).toBe(ReaderErrorCodes.CardRemoved);
    expect(r.sim.cardInField).toBeUndefined();
    expect(r.store.ledger()).toHaveLength(0);
  });
});

describe("card and PSAM faults", () => {
  it("card mute at DEBIT with commit: E803 (may have run), the debit is in the ledger as torn", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    const psam = await preparePsam(r.reader, 1);
    const card = await readCard(r.reader);
    r.sim.inject({ kind: "card-mute", when: { target: "card", ins: "54" }, commit: true });
    const err = await fail(purchase(r.reader, 1, psam, card, 300, TIME, exitRecord0019()));
    expect(err).toMatchObject({ code: ReaderErrorCodes.CardMute, details: { executed: "unknown" } });
    expect(r.store.ledger()[0]).toMatchObject({ outcome: "torn-after-debit", amount: 300 });
  });

  it("a fault with an APDU match given as a script step (a stdin line, a scenario's script) fires at that APDU", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    const psam = await preparePsam(r.reader, 1);
    const card = await readCard(r.reader);
    const line = '{fault: {kind: card-mute, when: {target: card, ins: "54"}, commit: true}}';
    await runScript(r.sim, [parseScriptLine(line) as ScriptStep]);
    const err = await fail(purchase(r.reader, 1, psam, card, 300, TIME, exitRecord0019()));
    expect(err).toMatchObject({ code: ReaderErrorCodes.CardMute, details: { executed: "unknown" } });
    expect(r.store.ledger()[0]).toMatchObject({ outcome: "torn-after-debit", amount: 300 });
  });

  it("a T=0 card that ran DEBIT (6108) but whose GET RESPONSE fails: E803 (may have run), never GET RESPONSE's SW as DEBIT's answer; 805A proves the TAC", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    const psam = await preparePsam(r.reader, 1);
    const card = await readCard(r.reader);
    const sim = r.store.get(CARD_A)!;
    const run = sim.apdu.bind(sim);
    let waiting = false;
    sim.apdu = (c: Buffer): Buffer => {
      if (c[0] === 0x80 && c[1] === 0x54) {
        run(c); // the card commits the debit and has TAC ‖ MAC2 waiting
        waiting = true;
        return h("6108");
      }
      if (waiting && c[0] === 0x00 && c[1] === 0xc0) {
        waiting = false;
        return h("6f00");
      }
      return run(c);
    };
    let intent: { offlineSerial: number } | undefined;
    const err = await fail(
      purchase(r.reader, 1, psam, card, 300, TIME, exitRecord0019(), (i) => {
        intent = i;
      }),
    );
    expect(err).toMatchObject({ code: ReaderErrorCodes.CardMute, details: { executed: "unknown" } });
    const [entry] = r.store.ledger();
    expect(entry).toMatchObject({ outcome: "torn-after-debit", amount: 300 });
    expect(await prove(r.reader, intent!.offlineSerial)).toEqual({ tac: entry!.tac, mac2: entry!.mac2 });
  });

  it("a card that commits DEBIT and answers 6C08 gets DEBIT once: the host sees 6C08, never a second DEBIT's 6901", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    const psam = await preparePsam(r.reader, 1);
    const card = await readCard(r.reader);
    const sim = r.store.get(CARD_A)!;
    const run = sim.apdu.bind(sim);
    const debits: string[] = [];
    sim.apdu = (c: Buffer): Buffer => {
      if (c[0] === 0x80 && c[1] === 0x54) {
        debits.push(c.toString("hex"));
        const answer = run(c); // the first commits; a second finds no purchase initialised: 6901
        return sw(answer) === "9000" ? h("6c08") : answer;
      }
      return run(c);
    };
    const err = await fail(purchase(r.reader, 1, psam, card, 300, TIME, exitRecord0019()));
    expect(err.message).toBe("DEBIT: 6c08");
    expect(debits).toHaveLength(1);
    expect(r.store.ledger()).toHaveLength(1);
  });

  it("card-zero-tac: DEBIT commits and answers TAC 00000000 (MAC2 as computed, verified); GET TRANSACTION PROVE gives the real TAC; on prove, PROVE answers zeros", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    const psam = await preparePsam(r.reader, 1);
    const card = await readCard(r.reader);
    r.sim.inject({ kind: "card-zero-tac", on: "debit" });
    const done = await purchase(r.reader, 1, psam, card, 300, TIME, exitRecord0019());
    const [entry] = r.store.ledger();
    expect(entry).toMatchObject({ outcome: "done", amount: 300 });
    expect(entry!.tac).not.toBe("00000000");
    expect([done.tac, done.mac2, done.mac2Verified]).toEqual(["00000000", entry!.mac2, true]);
    // the fault was used up at DEBIT: PROVE answers the card's TAC
    expect(await prove(r.reader, done.offlineSerial)).toEqual({ tac: entry!.tac, mac2: entry!.mac2 });
    r.sim.inject({ kind: "card-zero-tac", on: "prove", times: 2 });
    // a PROVE without a TAC (9406: not the card's last transaction) is left alone and not counted
    expect(await prove(r.reader, done.offlineSerial + 5)).toEqual({ sw: "9406" });
    expect(await prove(r.reader, done.offlineSerial)).toEqual({ tac: "00000000", mac2: entry!.mac2 });
    expect(await prove(r.reader, done.offlineSerial)).toEqual({ tac: "00000000", mac2: entry!.mac2 });
    expect(await prove(r.reader, done.offlineSerial)).toEqual({ tac: entry!.tac, mac2: entry!.mac2 });
    const applied = r.events.filter((e) => e.type === "fault" && e.detail?.startsWith("applied"));
    expect(applied.map((e) => e.type === "fault" && e.detail)).toEqual([
      "applied at card INS 54",
      "applied at card INS 5a",
      "applied at card INS 5a",
    ]);
  });

  it("PSAM error at MAC1: the SW comes back, nothing is debited", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    const psam = await preparePsam(r.reader, 1);
    const card = await readCard(r.reader);
    r.sim.inject({ kind: "psam-error", when: { target: "psam", ins: "70" }, sw: "6581" });
    const err = await fail(purchase(r.reader, 1, psam, card, 300, TIME, exitRecord0019()));
    expect(err.message).toBe("MAC1: 6581");
    expect(r.store.ledger()).toHaveLength(0);
    expect(r.store.get(CARD_A)?.snapshot().balance).toBe(10_000);
  });

  it("PSAM absent: E804 (not run); back in the slot it needs a reset first (PSAM_MUTE until then)", async () => {
    const r = await rig();
    r.sim.inject({ kind: "psam-absent", slot: 1 });
    expect(await fail(r.reader.psamReset(1))).toMatchObject({
      code: ReaderErrorCodes.PsamAbsent,
      details: { executed: "no" },
    });
    expect((await fail(r.reader.psamApdu(1, h("00b0960006")))).code).toBe(ReaderErrorCodes.PsamAbsent);
    expect((await fail(r.reader.psamApdu(2, h("00b0960006")))).code).toBe(ReaderErrorCodes.PsamAbsent);
    r.sim.inject({ kind: "psam-present", slot: 1 });
    expect((await fail(r.reader.psamApdu(1, h("00b0960006")))).code).toBe(ReaderErrorCodes.PsamMute);
    expect((await r.reader.psamReset(1)).toString("hex")).toBe("3b6800ff8031006400085001");
    expect(sw(await r.reader.psamApdu(1, h("00b0960006")))).toBe("9000");
  });

  it("psam-present for a slot never configured is refused naming the slot; nothing is emitted, the slot stays empty", async () => {
    const r = await rig();
    expect(() => r.sim.inject({ kind: "psam-present", slot: 2 })).toThrow(
      /^psam-present: slot 2 has no PSAM configured \(configured: slot 1\)/,
    );
    expect(r.events.filter((e) => e.type === "fault")).toEqual([]);
    expect(r.sim.psam(2)).toBeUndefined();
    expect((await fail(r.reader.psamReset(2))).code).toBe(ReaderErrorCodes.PsamAbsent);
    // typed on stdin (etc-sim reader): the refusal is printed as the step's failure
    const input = new PassThrough();
    const said = await new Promise<string>((resolve) => {
      runStepsFrom(input, r.sim, resolve);
      input.write("{fault: {kind: psam-present, slot: 2}}\n");
    });
    expect(said).toMatch(/^step failed: psam-present: slot 2 has no PSAM configured/);
  });

  it("psam-present for a slot configured empty (absent: true) puts its own PSAM there, serial counter and all", async () => {
    const r = await rig(
      {},
      {
        psams: [DEFAULT_SIM_PSAM, { slot: 2, terminalNo: "430100000098", serial: 5, absent: true }],
      },
    );
    expect((await fail(r.reader.psamReset(2))).code).toBe(ReaderErrorCodes.PsamAbsent);
    r.sim.inject({ kind: "psam-present", slot: 2 });
    expect((await preparePsam(r.reader, 2)).terminalNo.toString("hex")).toBe("430100000098");
    expect((await preparePsam(r.reader, 1)).terminalNo.toString("hex")).toBe("430100000099");
  });

  it("PSAM mute: E805", async () => {
    const r = await rig();
    r.sim.inject({ kind: "psam-mute" });
    expect(await fail(r.reader.psamReset(1))).toMatchObject({
      code: ReaderErrorCodes.PsamMute,
      details: { executed: "unknown" },
    });
    await r.reader.psamReset(1);
  });
});

describe("hold: the command runs, nothing is answered until release", () => {
  const step = (line: string): ScriptStep => parseScriptLine(line) as ScriptStep;

  it("hold at DEBIT: the card commits (ledger torn), DEBIT and the commands after it go unanswered; release drops the held replies and the card proves the TAC", async () => {
    const r = await rig({ timeouts: { cardApduMs: 300 }, silentLimit: 5 });
    r.sim.present(CARD_A);
    const psam = await preparePsam(r.reader, 1);
    const card = await readCard(r.reader);
    // as a stdin line of `etc-sim rsu --reader-pty` (test/reliability/run-booth-crash.ts) arms it
    await runScript(r.sim, [step('{fault: {kind: hold, when: {target: card, ins: "54"}}}')]);
    let intent: { offlineSerial: number } | undefined;
    const p = fail(
      purchase(r.reader, 1, psam, card, 700, TIME, exitRecord0019(), (i) => {
        intent = i;
      }),
    );
    await vi.advanceTimersByTimeAsync(300);
    expect((await p).code).toBe(ReaderErrorCodes.Timeout);
    const [entry] = r.store.ledger();
    expect(entry).toMatchObject({ outcome: "torn-after-debit", amount: 700, iccPaySerial: 3, path: "booth" });
    expect(r.events.filter((e) => e.type === "held")).toEqual([
      { type: "held", name: "CARD_APDU", seq: expect.any(Number), status: "ok", ins: [0x54], cardId: CARD_A },
    ]);
    // still holding: the next command runs into its timeout too
    const q = fail(r.reader.cardApdu(h("00a40000021001")));
    await vi.advanceTimersByTimeAsync(300);
    expect((await q).code).toBe(ReaderErrorCodes.Timeout);
    // and a command that reaches the reader corrupted gets no BAD_CHECKSUM either (§8.4: nothing is answered)
    const bad = corruptedCardApdu();
    const naks = framesToLane(r);
    await r.pair.lane.write(bad);
    await settle();
    expect(naks).toEqual([]);
    await runScript(r.sim, [step("release")]);
    expect(r.events.at(-1)).toEqual({ type: "released", dropped: 3, disarmed: 0 });
    // answered again; the card (still in the field) proves the debit whose answer never came
    expect(await prove(r.reader, intent?.offlineSerial ?? -1)).toEqual({
      tac: entry?.tac,
      mac2: entry?.mac2,
    });
    expect(r.reader.counters.staleReplies).toBe(0);
  });

  it("a fault's ins written as a number (YAML reads 54 as decimal) is refused, naming ins and saying to quote it; quoted, it is the byte its digits say and re-parses as itself", () => {
    const quote = /: expected 2 hex digits in quotes, e\.g\. "54" \(DEBIT\): a number is not taken, quote it/;
    expect(() => step("{fault: {kind: hold, when: {target: card, ins: 54}}}")).toThrow(
      new RegExp(`^line\\.fault\\.when\\.ins${quote.source}`),
    );
    expect(() => step("{fault: {kind: psam-error, when: {target: psam, ins: 70}, sw: '6581'}}")).toThrow(
      /^line\.fault\.when\.ins: .*YAML reads ins: 70 as decimal 70/,
    );
    expect(() =>
      parseReaderScenario({ script: [{ fault: { kind: "card-mute", when: { ins: 54 } } }] }),
    ).toThrow(/^scenario: script\.0\.fault\.when\.ins: expected 2 hex digits in quotes/);
    const quoted = step('{fault: {kind: hold, when: {target: card, ins: "54"}}}');
    expect(quoted).toEqual({ fault: { kind: "hold", when: { target: "card", ins: 0x54 } } });
    // `inject` parses the fault a script step parsed already: the same fault
    const parsed = (quoted as { fault: ReaderFault }).fault;
    expect(parseReaderFault(parsed)).toEqual(parsed);
  });

  it("a hold not fired yet is disarmed by release: the purchase then goes through", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    const psam = await preparePsam(r.reader, 1);
    const card = await readCard(r.reader);
    r.sim.inject({ kind: "hold", when: { target: "card", ins: "54" } });
    r.sim.release();
    expect(r.events.at(-1)).toEqual({ type: "released", dropped: 0, disarmed: 1 });
    await purchase(r.reader, 1, psam, card, 700, TIME, exitRecord0019());
    expect(r.store.ledger()).toMatchObject([{ outcome: "done", amount: 700 }]);
    expect(r.events.filter((e) => e.type === "held")).toEqual([]);
  });
});

// second review: a reader scenario's seed took any integer; the cards' xorshift32 runs 0 as 1, and
// 4294967297 as 1 too
describe("a reader scenario's seed", () => {
  it("is an integer 1..4294967295, else refused naming seed and the range", () => {
    for (const seed of [0, -1, 4294967296, 1.5])
      expect(() => parseReaderScenario({ seed }), String(seed)).toThrow(
        `scenario: seed: expected an integer 1..4294967295, got ${seed}`,
      );
    expect(parseReaderScenario({ seed: 4294967295 }).seed).toBe(4294967295);
  });
});

// a reader identity string over 255 bytes was accepted, then the INFO reply's encoder threw inside the
// frame subscriber on the lane's first INFO: an uncaught exception that ended `etc-sim reader`
describe("a reader scenario's identity strings", () => {
  it.each(["vendor", "model", "firmware", "serial"])(
    "reader.%s over 255 bytes in UTF-8 is refused at load, naming the field and the limit",
    (field) => {
      expect(() => parseReaderScenario({ reader: { [field]: "v".repeat(256) } })).toThrow(
        expect.objectContaining({
          code: "E401_CONFIG_INVALID",
          message: `scenario: reader.${field}: expected at most 255 bytes in UTF-8 (INFO sends it after a 1-byte length), got 256`,
        }),
      );
      // 86 Chinese characters are 258 bytes; 85 are 255, which fit
      expect(() => parseReaderScenario({ reader: { [field]: "读".repeat(86) } })).toThrow(
        `scenario: reader.${field}: expected at most 255 bytes in UTF-8 (INFO sends it after a 1-byte length), got 258`,
      );
      expect(parseReaderScenario({ reader: { [field]: "读".repeat(85) } }).reader).toEqual({
        [field]: "读".repeat(85),
      });
    },
  );

  it("texts of 255 bytes each are refused at load too: their INFO reply is over etc-sim reader's 1024-byte frames", () => {
    const s = "x".repeat(255);
    expect(() => parseReaderScenario({ reader: { vendor: s, model: s, firmware: s, serial: s } })).toThrow(
      "scenario: reader: the INFO reply would be a 1037-byte frame, over the reader's maxFrameLength 1024 (shorten vendor, model, firmware or serial)",
    );
    // with the default serial (8 bytes): 4 + 3 × 256 + 9 DATA, 9 around them, 790 bytes
    expect(parseReaderScenario({ reader: { vendor: s, model: s, firmware: s } }).reader?.vendor).toBe(s);
  });

  it("in process, a string over 255 bytes is refused when the simulator is built, naming info.<field>", () => {
    const store = new CardStore({ seed: 7, ledger: memoryLedger() });
    const transport = createTransportPair({ names: ["pair:lane", "pair:sim"] }).device;
    expect(() => new ReaderSimulator({ transport, store, info: { serial: "s".repeat(300) } })).toThrow(
      expect.objectContaining({
        code: "E401_CONFIG_INVALID",
        message: "reader info.serial: expected at most 255 bytes in UTF-8, got 300",
      }),
    );
  });

  it("an INFO reply longer than the reader's frame limit is refused when the simulator is built", () => {
    const store = new CardStore({ seed: 7, ledger: memoryLedger() });
    const transport = createTransportPair({ names: ["pair:lane", "pair:sim"] }).device;
    const s = "x".repeat(255);
    // 4 + 4 × (1 + 255) bytes of DATA, 9 around them: 1037 > 1024
    expect(
      () => new ReaderSimulator({ transport, store, info: { vendor: s, model: s, firmware: s, serial: s } }),
    ).toThrow(
      expect.objectContaining({
        code: "E401_CONFIG_INVALID",
        message:
          "reader info: the INFO reply would be a 1037-byte frame, over the reader's maxFrameLength 1024 (shorten vendor, model, firmware or serial)",
      }),
    );
    expect(
      () =>
        new ReaderSimulator({
          transport,
          store,
          maxFrameLength: 1037,
          info: { vendor: s, model: s, firmware: s, serial: s },
        }),
    ).not.toThrow();
  });
});

// two PSAMs for one slot were accepted and the first silently dropped (the last one won)
describe("a reader scenario's PSAM slots", () => {
  it("a slot configured twice is refused at load, naming the repeat and the slot", () => {
    const psams = [
      { slot: 2, terminalNo: "333333333333" },
      { slot: 1, terminalNo: "111111111111" },
      { slot: 1, terminalNo: "222222222222" },
    ];
    expect(() => parseReaderScenario({ psams })).toThrow(
      expect.objectContaining({
        code: "E401_CONFIG_INVALID",
        message: "scenario: psams.2.slot: slot 1 is configured already (psams.1); one PSAM per slot",
      }),
    );
    expect(parseReaderScenario({ psams: psams.slice(0, 2) }).psams).toHaveLength(2);
  });

  it("in process, a slot given twice is refused when the simulator is built", () => {
    const store = new CardStore({ seed: 7, ledger: memoryLedger() });
    const transport = createTransportPair({ names: ["pair:lane", "pair:sim"] }).device;
    const psams = [
      { slot: 1, terminalNo: "111111111111" },
      { slot: 1, terminalNo: "222222222222" },
    ];
    expect(() => new ReaderSimulator({ transport, store, psams })).toThrow(
      expect.objectContaining({
        code: "E401_CONFIG_INVALID",
        message: "reader psams.1.slot: slot 1 is configured already (psams.0); one PSAM per slot",
      }),
    );
  });
});

describe("line faults", () => {
  it("a reply with a bad checksum is discarded by the host: the command times out (E806)", async () => {
    const r = await rig({ timeouts: { cardApduMs: 300 }, silentLimit: 5 });
    r.sim.present(CARD_A);
    await r.reader.activate();
    r.sim.inject({ kind: "bad-checksum" });
    const p = fail(r.reader.cardApdu(h("00a40000021001")));
    await vi.advanceTimersByTimeAsync(300);
    expect((await p).code).toBe(ReaderErrorCodes.Timeout);
    expect(r.reader.counters.checksumErrors).toBe(1);
    expect(sw(await r.reader.cardApdu(h("00a40000021001")))).toBe("9000");
  });

  it("replies dropped for a bad checksum: the timeout names the bytes discarded, and the link goes down as 'no usable reply', not 'reader silent'", async () => {
    const r = await rig({
      timeouts: { cardApduMs: 300, infoMs: 300 },
      silentLimit: 2,
      reconnect: { initialDelayMs: 1000, jitter: 0 },
    });
    r.sim.present(CARD_A);
    await r.reader.activate();
    r.sim.inject({ kind: "bad-checksum", times: 2 });
    const a = fail(r.reader.cardApdu(h("00a40000021001")));
    await vi.advanceTimersByTimeAsync(300);
    const e = await a;
    expect(e).toMatchObject({ code: ReaderErrorCodes.Timeout, details: { executed: "unknown" } });
    // the corrupted reply is discarded: its candidate for the checksum, the rest rescanned as noise and the like
    const discarded = (e.details as { discarded?: Record<string, number> }).discarded ?? {};
    expect(discarded.checksum).toBeGreaterThan(0);
    const bytes = Object.values(discarded).reduce((x, y) => x + y, 0);
    expect(e.message).toMatch(
      new RegExp(
        `got no usable reply after 300 ms: ${bytes} byte\\(s\\) \\(checksum \\d+.*\\) from the reader discarded meanwhile`,
      ),
    );
    const b = fail(r.reader.cardApdu(h("00a40000021001")));
    await vi.advanceTimersByTimeAsync(300);
    expect((await b).code).toBe(ReaderErrorCodes.Timeout);
    expect(r.reader.state).toMatchObject({
      status: "down",
      reason: `no usable reply: 2 command(s) in a row unanswered, ${2 * bytes} byte(s) from the reader discarded meanwhile (corrupted or too long)`,
    });
  });

  it("garbled bytes: the reply is lost (timeout); junk before a reply does not stop it arriving", async () => {
    const r = await rig({ timeouts: { cardApduMs: 300 }, silentLimit: 5 });
    r.sim.present(CARD_A);
    await r.reader.activate();
    r.sim.inject({ kind: "garble", mode: "bytes" });
    const p = fail(r.reader.cardApdu(h("00a40000021001")));
    await vi.advanceTimersByTimeAsync(300);
    expect((await p).code).toBe(ReaderErrorCodes.Timeout);
    r.sim.inject({ kind: "garble", mode: "noise" });
    const q = r.reader.cardApdu(h("00a40000021001"));
    await vi.advanceTimersByTimeAsync(100); // the junk's false STX holds the reply for the inter-byte timeout
    expect(sw(await q)).toBe("9000");
    expect(r.reader.counters.discardedBytes).toBeGreaterThan(0);
  });

  it("a fault that acts at once says applied as it acts (stdout: armed, then applied); one that waits says armed only", async () => {
    const r = await rig();
    const lines = (): (string | undefined)[] => faultLines(r.events);
    r.sim.inject({ kind: "noise", bytes: 4 });
    await settle(); // noise is applied once its bytes are written
    r.sim.inject({ kind: "psam-absent", slot: 1 });
    r.sim.inject({ kind: "psam-present", slot: 1 });
    r.sim.inject({ kind: "psam-mute" });
    r.sim.inject({ kind: "unplug", durationMs: 500 });
    // while the cable is out, a second unplug changes nothing: no applied
    r.sim.inject({ kind: "unplug", durationMs: 500 });
    expect(lines()).toEqual([
      "fault noise armed",
      "fault noise applied",
      "fault psam-absent armed",
      "fault psam-absent applied",
      "fault psam-present armed",
      "fault psam-present applied",
      "fault psam-mute armed",
      "fault unplug armed",
      "fault unplug applied",
      "fault unplug armed",
    ]);
    await vi.advanceTimersByTimeAsync(500);
  });

  // session 40 review: "applied" was printed for a fault that did nothing
  it("noise while the cable is out writes nothing and says armed only", async () => {
    const r = await rig();
    const lines = (): (string | undefined)[] => faultLines(r.events);
    const received: Buffer[] = [];
    r.pair.lane.data$.subscribe((c) => received.push(c));
    r.sim.inject({ kind: "unplug", durationMs: 500 });
    r.sim.inject({ kind: "noise", bytes: 4 });
    await settle();
    expect(lines()).toEqual(["fault unplug armed", "fault unplug applied", "fault noise armed"]);
    expect(received).toEqual([]);
    await vi.advanceTimersByTimeAsync(500);
  });

  it("psam-absent on a slot empty already or never configured, psam-present on a PSAM in: armed only, nothing changed", async () => {
    const r = await rig();
    const lines = (): (string | undefined)[] => faultLines(r.events);
    expect((await r.reader.psamReset(1)).toString("hex")).toBe("3b6800ff8031006400085001");
    r.sim.inject({ kind: "psam-present", slot: 1 });
    // the PSAM in the slot stays powered: it answers without a new reset (not PSAM_MUTE)
    expect(sw(await r.reader.psamApdu(1, h("00b0960006")))).toBe("9000");
    r.sim.inject({ kind: "psam-absent", slot: 1 });
    r.sim.inject({ kind: "psam-absent", slot: 1 });
    r.sim.inject({ kind: "psam-absent", slot: 2 });
    expect(lines()).toEqual([
      "fault psam-present armed",
      "fault psam-absent armed",
      "fault psam-absent applied",
      "fault psam-absent armed",
      "fault psam-absent armed",
    ]);
    expect(r.sim.psam(1)).toBeUndefined();
  });

  it("noise on the line between commands is counted and skipped", async () => {
    const r = await rig();
    r.sim.inject({ kind: "noise", bytes: 40 });
    await vi.advanceTimersByTimeAsync(100);
    r.sim.present(CARD_A);
    await r.reader.activate();
    expect(r.reader.counters.discardedBytes).toBe(40);
  });

  it("a command that reaches the reader corrupted gets BAD_CHECKSUM echoing its SEQ and CMD", async () => {
    const r = await rig();
    const bad = corruptedCardApdu();
    const replies = framesToLane(r);
    await r.pair.lane.write(bad);
    await settle();
    expect(replies).toEqual([encodeReaderFrame(0x42, CARD_APDU.code, 0x06).toString("hex")]);
    expect(r.reader.counters.staleReplies).toBe(1); // the host had no command 0x42 in flight
  });

  it.each([
    ["after a minute of silence", 60_000],
    ["right behind it, no pause", 0],
  ])(
    "a corrupted command behind line noise with an oversize LEN (%s) still gets BAD_CHECKSUM (docs/reader.md §2.2)",
    async (_, pauseMs) => {
      const r = await rig();
      const bad = corruptedCardApdu();
      const replies = framesToLane(r);
      await r.pair.lane.write(h("02a17c112233")); // a false STX whose LEN a17c is oversize
      await settle();
      await vi.advanceTimersByTimeAsync(pauseMs);
      await r.pair.lane.write(bad);
      await settle();
      expect(replies).toEqual([encodeReaderFrame(0x42, CARD_APDU.code, 0x06).toString("hex")]);
    },
  );

  it("a PSAM command for slot 0 (no such slot) gets PSAM_ABSENT, as docs/reader.md §4 says", async () => {
    const r = await rig();
    const replies: number[] = [];
    const d = new ReaderDeframer();
    r.pair.lane.data$.subscribe((c) => {
      for (const e of d.push(c, Date.now()))
        if (e.kind === "frame" && e.frame.seq === 0x43) replies.push(e.frame.p);
    });
    await r.pair.lane.write(encodeReaderFrame(0x43, PSAM_RESET.code, 0, PSAM_RESET.request.encode("auto")));
    await settle();
    expect(replies).toEqual([0x04]);
  });

  it("reader-nak: the reader says it got the command corrupted; the host resends it and succeeds", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    await r.reader.activate();
    r.sim.inject({ kind: "reader-nak", times: 2 });
    expect(sw(await r.reader.cardApdu(h("00a40000021001")))).toBe("9000");
    expect(r.reader.counters.nakResends).toBe(2);
  });

  it("slow reader: WAIT frames keep the command alive past its timeout; a second command meanwhile gets BUSY", async () => {
    const r = await rig({ timeouts: { cardApduMs: 300 }, stillWorkingMs: 500 });
    r.sim.present(CARD_A);
    await r.reader.activate();
    r.sim.inject({ kind: "slow", delayMs: 2000, waitEveryMs: 250 });
    let got: Buffer | undefined;
    void r.reader.cardApdu(h("00a40000021001")).then((b) => {
      got = b;
    });
    await vi.advanceTimersByTimeAsync(1999);
    expect(got).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(sw(got)).toBe("9000");
    expect(r.reader.counters.waits).toBe(7);
    expect(r.reader.counters.timeouts).toBe(0);
  });

  it("the card removed while a slow card command works: CARD_REMOVED (executed unknown) first, CARD_EVENT removed after it; nothing ran", async () => {
    const r = await rig({ timeouts: { cardApduMs: 300 } });
    r.sim.present(CARD_A);
    await r.reader.activate();
    const wire: string[] = [];
    const d = new ReaderDeframer();
    r.pair.lane.data$.subscribe((c) => {
      for (const e of d.push(c, Date.now()))
        if (e.kind === "frame" && e.frame.cmd !== WAIT.code)
          wire.push(`${e.frame.cmd.toString(16)}/${e.frame.p}`);
    });
    r.sim.inject({ kind: "slow", delayMs: 500, waitEveryMs: 100 });
    const p = settled(r.reader.cardApdu(h("00a40000021001")));
    await vi.advanceTimersByTimeAsync(150);
    r.sim.remove("collector took it");
    await settle();
    expect(p.error).toMatchObject({ code: ReaderErrorCodes.CardRemoved, details: { executed: "unknown" } });
    expect(wire).toEqual([`${CARD_APDU.code.toString(16)}/2`, `${CARD_EVENT.code.toString(16)}/0`]);
    await vi.advanceTimersByTimeAsync(500);
    expect(wire).toHaveLength(2);
    expect(r.store.ledger()).toEqual([]);
  });

  it("a slow CARD_ACTIVATE runs on the card that was there when it arrived: none then, NO_CARD; a card swapped in is not activated", async () => {
    const r = await rig({ timeouts: { activateMs: 300 }, stillWorkingMs: 500 });
    r.sim.inject({ kind: "slow", delayMs: 500, waitEveryMs: 100 });
    const none = fail(r.reader.activate());
    await vi.advanceTimersByTimeAsync(100);
    r.sim.present(CARD_A);
    await vi.advanceTimersByTimeAsync(400);
    expect(await none).toMatchObject({ code: ReaderErrorCodes.NoCard, details: { executed: "no" } });
    // A present, B swapped in during the delay: CARD_REMOVED, and B was never activated.
    r.sim.inject({ kind: "slow", delayMs: 500, waitEveryMs: 100 });
    const swapped = settled(r.reader.activate());
    await vi.advanceTimersByTimeAsync(100);
    r.sim.present(CARD_B);
    await settle();
    expect(swapped.error).toMatchObject({ code: ReaderErrorCodes.CardRemoved });
    await vi.advanceTimersByTimeAsync(400);
    expect(await fail(r.reader.cardApdu(h("00a40000021001")))).toMatchObject({
      code: ReaderErrorCodes.CardMute,
    });
  });

  it("latencyMs answers every command that long after it arrived; a slow fault armed later applies with its own delay, then the latency again", async () => {
    const r = await rig({ timeouts: { cardApduMs: 1000 }, stillWorkingMs: 1000 }, { latencyMs: 25 });
    r.sim.present(CARD_A);
    const activated = settled(r.reader.activate());
    await vi.advanceTimersByTimeAsync(24);
    expect(r.events.some((e) => e.type === "reply" && e.name === "CARD_ACTIVATE")).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.events.some((e) => e.type === "reply" && e.name === "CARD_ACTIVATE")).toBe(true);
    await settle();
    expect(activated.error).toBeUndefined();
    r.sim.inject({ kind: "slow", delayMs: 3000, waitEveryMs: 300 });
    let got: Buffer | undefined;
    void r.reader.cardApdu(h("00a40000021001")).then((b) => {
      got = b;
    });
    await vi.advanceTimersByTimeAsync(2999);
    expect(got).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(sw(got)).toBe("9000");
    expect(r.reader.counters.waits).toBe(9);
    got = undefined;
    void r.reader.cardApdu(h("00a40000021001")).then((b) => {
      got = b;
    });
    await vi.advanceTimersByTimeAsync(24);
    expect(got).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(sw(got)).toBe("9000");
  });

  it("slow reader without WAIT: the host times out, aborts nothing on the reader; the late reply is stale; BUSY meanwhile", async () => {
    const r = await rig({ timeouts: { cardApduMs: 300 }, silentLimit: 5 });
    r.sim.present(CARD_A);
    await r.reader.activate();
    r.sim.inject({ kind: "slow", delayMs: 1000, waitEveryMs: 0 });
    const a = fail(r.reader.cardApdu(h("00a40000021001")));
    await vi.advanceTimersByTimeAsync(300);
    expect((await a).code).toBe(ReaderErrorCodes.Timeout);
    expect(await fail(r.reader.cardApdu(h("00a40000021001")))).toMatchObject({
      code: ReaderErrorCodes.Busy,
      details: { executed: "no" },
    });
    await vi.advanceTimersByTimeAsync(700);
    expect(r.reader.counters.staleReplies).toBe(1);
    expect(sw(await r.reader.cardApdu(h("00a40000021001")))).toBe("9000");
  });

  it("silent reader: no reply, E806; the link goes down after silentLimit and comes back", async () => {
    const r = await rig({ timeouts: { cardApduMs: 200, infoMs: 200 }, silentLimit: 1 });
    r.sim.inject({ kind: "silent" });
    const p = fail(r.reader.cardApdu(h("00a40000021001")));
    await vi.advanceTimersByTimeAsync(200);
    expect((await p).code).toBe(ReaderErrorCodes.Timeout);
    expect(r.reader.state.status).toBe("down");
    await vi.advanceTimersByTimeAsync(100);
    expect(r.reader.state.status).toBe("up");
  });

  it("unplug mid-transaction and replug: the command fails (E807), the link recovers, the card is reported again", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    const psam = await preparePsam(r.reader, 1);
    const card = await readCard(r.reader);
    const kinds: string[] = [];
    r.reader.cardEvents$.subscribe((e) => kinds.push(e.kind));
    r.sim.inject({ kind: "slow", delayMs: 500, waitEveryMs: 100 });
    const p = fail(purchase(r.reader, 1, psam, card, 100, TIME, exitRecord0019()));
    await vi.advanceTimersByTimeAsync(150);
    r.sim.inject({ kind: "unplug", durationMs: 1000 });
    const err = await p;
    expect(err).toMatchObject({ code: ReaderErrorCodes.LinkDown, details: { executed: "unknown" } });
    expect(r.reader.state.status).toBe("down");
    await vi.advanceTimersByTimeAsync(1000 + 800);
    expect(r.reader.state.status).toBe("up");
    expect(kinds).toEqual(["inserted"]);
    expect(r.store.ledger()).toHaveLength(0);
    // After a replug the PSAM needs its reset and the card its activation again, then all works.
    const again = await readCard(r.reader);
    const out = await purchase(
      r.reader,
      1,
      await preparePsam(r.reader, 1),
      again,
      100,
      TIME,
      exitRecord0019(),
    );
    expect(out.mac2Verified).toBe(true);
    expect(r.store.ledger()).toHaveLength(1);
  });
});

describe("scripted mode", () => {
  it("present A, wait for DEBIT, remove, present B: the host sees A debited, then B", async () => {
    const r = await rig();
    const script = runScript(r.sim, [
      { present: CARD_A },
      { waitFor: { command: "CARD_APDU", ins: 0x54, count: 1 } },
      { remove: true },
      { present: CARD_B },
    ]);
    const psam = await preparePsam(r.reader, 1);
    const a = await readCard(r.reader);
    await purchase(r.reader, 1, psam, a, 100, TIME, exitRecord0019());
    await script;
    const b = await readCard(r.reader);
    expect(b.file0015.subarray(12, 20).toString("hex")).toBe(CARD_B.slice(4));
    expect(b.balance).toBe(500);
    expect(
      r.events.filter((e) => e.type === "card").map((e) => e.type === "card" && `${e.kind} ${e.cardId}`),
    ).toEqual([`inserted ${CARD_A}`, `removed ${CARD_A}`, `inserted ${CARD_B}`]);
  });

  it("lines of text become steps; bad ones are refused with the field", () => {
    expect(parseScriptLine(`present ${CARD_A}`)).toEqual({ present: CARD_A });
    expect(parseScriptLine("remove")).toEqual({ remove: true });
    expect(parseScriptLine("fault card-removed-after-debit")).toEqual({
      fault: { kind: "card-removed-after-debit" },
    });
    expect(parseScriptLine("{fault: {kind: slow, delayMs: 2000}}")).toEqual({
      fault: { kind: "slow", delayMs: 2000, waitEveryMs: 300, times: 1 },
    });
    expect(parseScriptLine("waitFor CARD_APDU 54")).toEqual({
      waitFor: { command: "CARD_APDU", ins: 0x54, count: 1 },
    });
    expect(parseScriptLine("release")).toEqual({ release: true });
    expect(parseScriptLine("{fault: {kind: hold, when: {target: card, ins: '54'}}}")).toEqual({
      fault: { kind: "hold", when: { target: "card", ins: 0x54 } },
    });
    expect(parseScriptLine("  # comment")).toBeUndefined();
    expect(() => parseScriptLine("present 123")).toThrow(/present: expected a 20-digit card id/);
    expect(() => parseScriptLine("fault meltdown")).toThrow(/fault/);
    expect(() => parseScriptLine("dance")).toThrow(/unknown step "dance"/);
  });

  it("INFO is answered with the reader's identity", async () => {
    const r = await rig();
    expect(r.reader.info).toMatchObject({
      vendor: "etc-sim",
      model: "desk-reader",
      psamSlots: 2,
      protocolVersion: 1,
    });
    expect(r.events.some((e) => e.type === "command" && e.name === INFO.name)).toBe(true);
  });
});

describe("line budget", () => {
  it("PSAM preparation and one booth purchase take a fixed number of frames and bytes (docs/reader.md §7)", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    await settle();
    const at = () => ({ ...r.reader.counters });
    const c0 = at();
    const psam = await preparePsam(r.reader, 1);
    const c1 = at();
    const card = await readCard(r.reader);
    await purchase(r.reader, 1, psam, card, 1250, TIME, exitRecord0019());
    const c2 = at();
    const d = (a: typeof c0, b: typeof c0) => [
      b.framesOut - a.framesOut,
      b.frames - a.frames,
      b.bytesOut - a.bytesOut,
      b.bytesIn - a.bytesIn,
    ];
    // [frames out, frames in, bytes out, bytes in]
    expect(d(c0, c1)).toEqual([3, 3, 40, 49]); // PSAM reset, terminal number, select DF01: once per session
    // Activate, select 1001 (its FCI 65 bytes), 0015, balance, 0019, INIT + UPDATE (one list), MAC1, DEBIT,
    // MAC2: 547 bytes, 47.5 ms of line time at 115200 8N1.
    expect(d(c1, c2)).toEqual([9, 9, 245, 302]);
  });
});

describe("lists stopped by an error status", () => {
  it("the card removed in the middle of a list: E802 with the answers it got before, in details.completed", async () => {
    const r = await rig();
    r.sim.present(CARD_A);
    await r.reader.activate();
    r.sim.inject({ kind: "remove-card", when: { target: "card", ins: "5c" } });
    const err = await fail(r.reader.cardApduList([h("00a40000021001"), h("00b095002b"), h("805c000204")]));
    expect(err.code).toBe(ReaderErrorCodes.CardRemoved);
    const completed = err.details?.completed as Buffer[];
    expect(completed.map(sw)).toEqual(["9000", "9000"]);
    expect(body(completed[1]!)).toHaveLength(43);
  });
});
