/**
 * The lane's debit intents over a real journal when the intent a rewrite names is gone (resolved already):
 * the journal refuses the rewrite (E609, nothing written: src/journal/intents.ts writeIntent), so the C8's
 * rewrite fails closed (the C8 is not sent: src/lane/machines.ts) and the answer a B5 adds is logged as not
 * kept. Before, the journal inserted a new intent under an id DebitIntents ignored (keepAnswer) or took
 * for the debit's own: an open intent holding the debit's answer, which the next start would have recorded
 * a second time.
 */
import { describe, expect, it } from "vitest";
import { DebitIntents, type IntentSubject } from "../../src/lane/debit-intents.js";
import type { ObuState } from "../../src/lane/obu-machine-types.js";
import { useJournalDir } from "../journal/helpers.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";
import { b5, CARD_ID, OBU_ID, OBU_SERIAL } from "./machine-fixtures.js";

const jd = useJournalDir("etc-debit-intents-");

function rig() {
  const journal = jd.open();
  const lines: LogLine[] = [];
  const counters = { journalFailures: 0 };
  const intents = new DebitIntents({
    journal,
    log: recordingLogger(lines),
    counters,
    now: () => 1000,
    wallNow: () => Date.now(),
  });
  const m: IntentSubject = { obuId: OBU_ID, state: { phase: "idle" }, stage: {} };
  return { journal, lines, counters, intents, m };
}

const errors = (lines: LogLine[]) => lines.filter((l) => l.level === "error").map((l) => l.msg);

describe("a debit intent rewrite naming an intent that is gone", () => {
  it("the C8's rewrite: not written (no new intent), the C8 not sent, counted and logged as a journal failure", async () => {
    const { journal, lines, counters, intents, m } = rig();
    expect(await intents.write(m)).toBe(true); // the C6's intent
    const c6 = m.intentId;
    expect(journal.openIntents().map((i) => i.id)).toEqual([c6]);
    journal.deleteIntent(c6 as number); // resolved meanwhile
    // the state the C8's rewrite writes: a debit in flight (only the ids the log line names matter here)
    m.state = {
      phase: "await-b8",
      debit: { card: { cardId: CARD_ID }, obu: { obuSerial: OBU_SERIAL } },
    } as unknown as ObuState;
    expect(await intents.write(m)).toBe(false);
    expect(journal.openIntents()).toEqual([]);
    expect(m.intentId).toBe(c6); // not an id the journal gave out for another intent
    expect(counters.journalFailures).toBe(1);
    // the C6 went out: the line says so and names the debit in full, to settle it by
    expect(errors(lines)).toEqual([
      "DEBIT INTENT NOT REWRITTEN before C8: C8 not sent; the C6 went out, the card may have paid",
    ]);
    expect(lines[0]?.obj).toMatchObject({
      err: expect.stringContaining(`debit intent ${c6} is not in the journal`),
      intentId: c6,
      cardId: CARD_ID,
      obuSerial: OBU_SERIAL,
    });
    expect(journal.healthy).toBe(true);
  });

  it("the answer a B5 adds: not written (no new intent holding it), logged", async () => {
    const { journal, lines, counters, intents, m } = rig();
    expect(await intents.write(m)).toBe(true);
    const other = journal.writeIntent("0badcafe", "C6 sent"); // another debit's intent, open
    journal.deleteIntent(m.intentId as number);
    intents.keepAnswer(m, { kind: "trade", info: b5(), raw: "b5" });
    expect(journal.openIntents().map((i) => [i.id, i.payload])).toEqual([[other, "C6 sent"]]);
    expect(counters.journalFailures).toBe(1);
    expect(errors(lines)).toEqual(["debit answer not written into its intent"]);
    expect(journal.healthy).toBe(true);
  });

  it("an intent still open is rewritten in place, with its answer", async () => {
    const { journal, intents, m } = rig();
    expect(await intents.write(m)).toBe(true);
    const id = m.intentId;
    expect(await intents.write(m)).toBe(true); // the C8's rewrite
    expect(m.intentId).toBe(id);
    intents.keepAnswer(m, { kind: "trade", info: b5(), raw: "b5" });
    const [intent] = journal.openIntents();
    expect(journal.openIntents()).toHaveLength(1);
    expect(intent?.id).toBe(id);
    expect(JSON.parse(intent?.payload ?? "")).toMatchObject({ answer: { kind: "trade", raw: "b5" } });
  });
});
