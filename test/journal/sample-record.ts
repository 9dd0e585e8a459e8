/** Realistic lane records (~2 KB as JSON, raw B4/B5 included) for tests and benchmarks. */
import type { NewLaneRecord, RecordKind } from "../../src/journal/types.js";

const hex = (n: number, width: number): string =>
  (n >>> 0).toString(16).toUpperCase().padStart(width, "0").slice(-width);

export function sampleRecord(i: number, kind: RecordKind = "transaction"): NewLaneRecord {
  const obu = hex(0xa1000000 + i, 8);
  const cardSerial = String(1_000_000_000 + i).padStart(16, "0");
  const amount = kind === "transaction" ? 1500 + (i % 97) * 10 : 0;
  const before = 500_000 - (i % 1000) * 100;
  const rawB4 = `FFFFB4${obu}00${"0123456789ABCDEF".repeat(32)}`;
  const rawB5 = `FFFFB5${obu}00${hex(0x1234abcd ^ i, 8)}${"00".repeat(40)}`;
  return {
    kind,
    outcome: kind === "transaction" ? "EXIT_DEBIT" : kind === "stop" ? "CARD_ON_STATUS_LIST" : "B5_NO_DSRC",
    obuId: obu,
    obuSerial: `4301${String(i).padStart(12, "0")}`,
    cardId: `4301${cardSerial}`,
    cardType: 22,
    cardIssuer: "B9BDB6AB",
    cardNetwork: "4301",
    vehicleClass: 1,
    plate: `湘A${String(10000 + (i % 90000))}`,
    plateColor: 0,
    entry: { network: "4301", station: "0207", lane: 1, time: "20261123081500" },
    amountDue: kind === "stop" ? null : amount + 100,
    discountPercent: 5,
    amount,
    balanceBefore: before,
    balanceAfter: kind === "transaction" ? before - amount : before,
    tac: kind === "transaction" ? hex(0x5a5a0000 + i, 8) : null,
    iccPaySerial: hex(i, 4),
    psamNo: "430101000001",
    psamTransSerial: hex(0x100 + i, 8),
    transTime: "20261123185914",
    transType: "09",
    algFlag: "00",
    keyVersion: "01",
    statusListVersions: { full: "20261123", delta: "202611231855" },
    tariffVersion: "2026.11.01",
    stageTimes: { b2In: 10.1, c1Out: 11.2, b3In: 40.3, c1bOut: 41, b4In: 80.5, c6Out: 82.1, b5In: 130.4 },
    rawB4,
    rawB5,
    rsuProtocol: "legacy",
    decisionMs: 1.8,
    extra: {
      specialSituations: [],
      operator: "ETC",
      shift: 2,
      anprPlate: `湘A${String(10000 + (i % 90000))}`,
      ef04: "00".repeat(91),
      obuStatus: "00",
      contractVersion: "40",
    },
  };
}
