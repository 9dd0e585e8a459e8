/** The reader side's 61xx / 6Cxx procedure (firmware-bridge/reader/t0.ts), with a scripted device. */
import { describe, expect, it } from "vitest";
import { exchangeResolvingT0, T0AnswerLost } from "../../firmware-bridge/reader/t0.js";

const h = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ""), "hex");

/** A device answering from a script; records what it was sent. */
function device(answers: string[]): { send: (a: Buffer) => Buffer; sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    send: (a) => {
      sent.push(a.toString("hex"));
      const next = answers.shift();
      if (next === undefined) throw new Error(`unexpected APDU ${a.toString("hex")}`);
      return h(next);
    },
  };
}

describe("61xx / 6Cxx resolved by the reader", () => {
  it("passes a final answer through untouched", () => {
    const d = device(["11229000"]);
    expect(exchangeResolvingT0(d.send, h("0084000002")).toString("hex")).toBe("11229000");
    expect(d.sent).toEqual(["0084000002"]);
  });

  it("61xx: GET RESPONSE with Le = xx, chained while the answer says 61xx, data concatenated", () => {
    const d = device(["6104", "aabbccdd6102", "eeff9000"]);
    expect(exchangeResolvingT0(d.send, h("8070000024" + "00".repeat(36))).toString("hex")).toBe(
      "aabbccddeeff9000",
    );
    expect(d.sent.slice(1)).toEqual(["00c0000004", "00c0000002"]);
  });

  it("6Cxx to a case-2 APDU (header + Le): the same command once more with Le = xx", () => {
    const d = device(["6c2b", `${"00".repeat(43)}9000`]);
    expect(exchangeResolvingT0(d.send, h("00b0950030")).length).toBe(45);
    expect(d.sent).toEqual(["00b0950030", "00b095002b"]);
  });

  it("6Cxx to a case-4 APDU is its answer: a DEBIT answered 6C08 is sent once, never twice", () => {
    const debit = h(`805401000f${"00".repeat(15)}08`);
    // a non-conforming card that committed the DEBIT, answered 6C08, and would answer a second DEBIT 6901
    const d = device(["6c08", "6901"]);
    expect(exchangeResolvingT0(d.send, debit).toString("hex")).toBe("6c08");
    expect(d.sent).toEqual([debit.toString("hex")]);
    const prove = device(["6c08", "01020304050607089000"]);
    expect(exchangeResolvingT0(prove.send, h("805a0009020003 10")).toString("hex")).toBe("6c08");
    expect(prove.sent).toEqual(["805a000902000310"]);
  });

  it("6Cxx to a command without Le is passed on as it is; the command's own error SW is final", () => {
    const d = device(["6c10"]);
    expect(exchangeResolvingT0(d.send, h("00a40000021001")).toString("hex")).toBe("6c10");
    const e = device(["9302"]);
    expect(exchangeResolvingT0(e.send, h("805401000f" + "00".repeat(15) + "08")).toString("hex")).toBe(
      "9302",
    );
  });

  it("a DEBIT that ran (6108) whose GET RESPONSE fails: the answer is lost, never GET RESPONSE's SW as DEBIT's", () => {
    for (const failed of ["6f00", "6a82", "6700", "6985"]) {
      const d = device(["6108", failed]);
      const debit = h("805401000f" + "00".repeat(15) + "08");
      let thrown: unknown;
      try {
        exchangeResolvingT0(d.send, debit);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(T0AnswerLost);
      expect(thrown).toMatchObject({ announced: "6108", getResponseSw: failed.toUpperCase(), rounds: 1 });
      expect(d.sent).toEqual([debit.toString("hex"), "00c0000008"]);
    }
  });

  it("a chain that fails after some data was fetched loses the answer too", () => {
    const d = device(["6104", "aabbccdd6104", "6f00"]);
    expect(() => exchangeResolvingT0(d.send, h("80700000 04 01020304"))).toThrow(T0AnswerLost);
    expect(d.sent.slice(1)).toEqual(["00c0000004", "00c0000004"]);
  });

  it("GET RESPONSE rounds are bounded: still 61xx after the last one, the answer is lost", () => {
    const d = device(Array.from({ length: 10 }, () => "6101"));
    expect(() => exchangeResolvingT0(d.send, h("80700000 04 01020304"), { maxGetResponse: 3 })).toThrow(
      T0AnswerLost,
    );
    expect(d.sent).toHaveLength(4);
  });
});
