/**
 * A suspect settled by hand (src/lane/operator-settlement.ts): what the operator's request becomes, and
 * what is refused because it would break a money rule (a paid record without what clearing needs, a
 * proof that names another debit, a debit of an ORPHAN_B5 whose card and amount are unknown).
 */
import { describe, expect, it } from "vitest";
import type { CommittedRecord } from "../../src/journal/types.js";
import { operatorSettlement } from "../../src/lane/operator-settlement.js";
import { sampleRecord } from "../journal/sample-record.js";

const user = { name: "zhang", uid: 1001, via: "socket" };

/** A B5_MISSING suspect: the C6 went out (PSAM number and purchase time known), no B5 came back. */
function suspect(over: Partial<CommittedRecord> = {}): CommittedRecord {
  return {
    ...sampleRecord(7, "suspect"),
    outcome: "B5_MISSING",
    tac: null,
    iccPaySerial: null,
    psamTransSerial: null,
    balanceAfter: null,
    seq: 7,
    tradeId: "430101020320261126081502000007",
    createdAt: "2026-11-26T08:15:02.000+08:00",
    lane: { network: "4301", station: "0102", lane: 3 },
    revision: 1,
    ...over,
  } as CommittedRecord;
}

describe("operatorSettlement", () => {
  it("--debited: a transaction with the TAC and the fields the suspect lacked, the reason and the operator kept", () => {
    const s = suspect();
    const plan = operatorSettlement(
      s,
      {
        seq: 7,
        verdict: "debited",
        reason: "station ticket 4711: the bank cleared it",
        proof: { tac: "12ab34cd", iccPaySerial: "0008", psamTransSerial: "00000107", psamNo: s.psamNo! },
      },
      "exit",
      user,
    );
    expect(plan).toEqual({
      ok: true,
      settlement: {
        kind: "transaction",
        outcome: "EXIT_DEBIT_SETTLED",
        settledBy: "operator",
        fields: {
          tac: "12ab34cd",
          iccPaySerial: "0008",
          psamTransSerial: "00000107",
          psamNo: s.psamNo,
          // a stored-value card: the balance after the debit
          balanceAfter: s.balanceBefore! - s.amount,
          transType: "09",
        },
        evidence: {
          verdict: "debited",
          reason: "station ticket 4711: the bank cleared it",
          operator: "zhang",
          uid: 1001,
          via: "socket",
        },
      },
    });
    const entry = operatorSettlement(
      s,
      {
        seq: 7,
        verdict: "debited",
        reason: "r",
        proof: { tac: "12AB34CD", iccPaySerial: "0008", psamTransSerial: "00000107" },
      },
      "entry",
      user,
    );
    expect(entry.ok && entry.settlement.outcome).toBe("ENTRY_WRITE_SETTLED");
  });

  it("--not-debited: a stop of amount 0", () => {
    expect(
      operatorSettlement(
        suspect(),
        { seq: 7, verdict: "not-debited", reason: "no debit at the bank" },
        "exit",
        user,
      ),
    ).toMatchObject({
      ok: true,
      settlement: {
        kind: "stop",
        outcome: "SUSPECT_NOT_DEBITED",
        settledBy: "operator",
        fields: { amount: 0 },
      },
    });
  });

  it("refuses a debit without what clearing needs, naming the options to give", () => {
    const plan = operatorSettlement(
      suspect(),
      { seq: 7, verdict: "debited", reason: "r", proof: { tac: "12AB34CD" } },
      "exit",
      user,
    );
    expect(plan).toEqual({
      ok: false,
      message:
        "suspect 7 not settled: a debit is recorded with what clearing needs; give --icc-pay-serial, --psam-trans-serial",
    });
  });

  it("refuses a proof value that differs from the one the suspect has (another debit)", () => {
    const plan = operatorSettlement(
      suspect(),
      {
        seq: 7,
        verdict: "debited",
        reason: "r",
        proof: {
          tac: "12ab34cd",
          iccPaySerial: "0008",
          psamTransSerial: "00000107",
          transTime: "20261126081503",
        },
      },
      "exit",
      user,
    );
    expect(plan.ok).toBe(false);
    const message = !plan.ok && plan.message;
    // review (session 32): the trans-time is the one the lane sent, not one an RSU frame reported
    expect(message).toContain(
      "already has trans-time 20261123185914 (the purchase time the lane sent in C6/C3, which the TAC covers): 20261126081503 would name another debit",
    );
    expect(message).not.toContain("RSU");
  });

  it("names where a value the suspect already has came from: the RSU for a DSRC suspect, the card and PSAM at the booth", () => {
    const refusal = (rec: CommittedRecord, proof: Record<string, string>) => {
      const p = operatorSettlement(
        rec,
        { seq: 7, verdict: "debited", reason: "r", proof: { tac: "12ab34cd", ...proof } },
        "exit",
        user,
      );
      return p.ok ? "accepted" : p.message;
    };
    expect(refusal(suspect({ iccPaySerial: "0007" }), { iccPaySerial: "0008" })).toContain(
      "already has icc-pay-serial 0007 (as the RSU reported it): 0008 would name another debit",
    );
    const booth = suspect({ outcome: "BOOTH_DEBIT_UNCONFIRMED", iccPaySerial: "0007" });
    expect(refusal(booth, { iccPaySerial: "0008" })).toContain(
      "already has icc-pay-serial 0007 (as the card and PSAM gave it at the booth)",
    );
    expect(refusal(booth, { transTime: "20261126081503" })).toContain(
      "already has trans-time 20261123185914 (the purchase time the lane sent in the booth's DEBIT, which the TAC covers)",
    );
  });

  // review (session 32): --trans-time was checked only as 14 digits, and month 13 became a paid record's time
  it.each([
    ["month 13", "20261399999999"],
    ["minutes and seconds in the hour", "20261207453520"],
    ["February 30", "20260230120000"],
    ["February 29 of a common year", "20270229120000"],
  ])("refuses a --trans-time that names no real time (%s), as the CLI refuses --since", (_what, time) => {
    const plan = operatorSettlement(
      suspect({ transTime: null }),
      {
        seq: 7,
        verdict: "debited",
        reason: "bank 4711",
        proof: { tac: "12ab34cd", iccPaySerial: "0008", psamTransSerial: "00000009", transTime: time },
      },
      "exit",
      user,
    );
    expect(plan).toEqual({
      ok: false,
      message: `suspect 7 not settled: --trans-time must be a real time YYYYMMDDhhmmss, got "${time}"`,
    });
  });

  it("takes a --trans-time that names a real time (February 29 of a leap year, 23:59:59)", () => {
    const plan = operatorSettlement(
      suspect({ transTime: null }),
      {
        seq: 7,
        verdict: "debited",
        reason: "bank 4711",
        proof: {
          tac: "12ab34cd",
          iccPaySerial: "0008",
          psamTransSerial: "00000009",
          transTime: "20280229235959",
        },
      },
      "exit",
      user,
    );
    expect(plan.ok && plan.settlement.fields.transTime).toBe("20280229235959");
  });

  it("refuses malformed proof, proof with --not-debited, an empty reason, an ORPHAN_B5 debit and a record that is not a suspect", () => {
    const bad = (r: Parameters<typeof operatorSettlement>[1], rec: CommittedRecord | null = suspect()) => {
      const p = operatorSettlement(rec, r, "exit", user);
      return p.ok ? "accepted" : p.message;
    };
    expect(bad({ seq: 7, verdict: "debited", reason: "r", proof: { tac: "12AB34" } })).toBe(
      'suspect 7 not settled: --tac must be 8 hex digits, got "12AB34"',
    );
    // decided (docs/protocol.md §6): an all-zero TAC proves nothing (the journal would refuse it, E605)
    expect(bad({ seq: 7, verdict: "debited", reason: "r", proof: { tac: "00000000" } })).toBe(
      "suspect 7 not settled: --tac 00000000 is all zeros: it proves no debit",
    );
    expect(bad({ seq: 7, verdict: "not-debited", reason: "r", proof: { tac: "12AB34CD" } })).toContain(
      "--tac is for --debited",
    );
    expect(bad({ seq: 7, verdict: "not-debited", reason: "  " })).toContain("give the reason");
    expect(
      bad(
        {
          seq: 7,
          verdict: "debited",
          reason: "r",
          proof: { tac: "12AB34CD", iccPaySerial: "0008", psamTransSerial: "00000107" },
        },
        suspect({ outcome: "ORPHAN_B5" }),
      ),
    ).toBe(
      "suspect 7 not settled: an ORPHAN_B5 names no card and no amount: only the station can settle it as debited; it holds no card or OBU here",
    );
    expect(bad({ seq: 7, verdict: "not-debited", reason: "r" }, suspect({ outcome: "ORPHAN_B5" }))).toBe(
      "accepted",
    );
    expect(
      bad({ seq: 7, verdict: "not-debited", reason: "r" }, {
        ...sampleRecord(7),
        seq: 7,
        tradeId: "T7",
      } as CommittedRecord),
    ).toBe("suspect 7 not settled: record 7 (T7) is a transaction (EXIT_DEBIT), not an unsettled suspect");
    expect(bad({ seq: 9, verdict: "not-debited", reason: "r" }, null)).toBe(
      "suspect 9 not settled: there is no record 9",
    );
  });
});
