/**
 * The barrier and the lane light follow what the lane does (docs/lane.md, "Barrier and lane light"): green
 * with the barrier for a paid vehicle, red with the display of a vehicle not let through (a listed card),
 * red when the lane closes, the barrier left to its own exit loop: a close could come down in front of the
 * paid vehicle still on its way through (src/lane/effect-runner.ts, src/lane/lane-gate.ts).
 */
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import type { LaneOutputEvent } from "../../src/outputs/outputs.js";
import type { RsuEvent } from "../../src/rsu/driver.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";
import { type Rig, rig } from "./controller-fakes.js";
import { b2, b3, b4, b5, NOW } from "./machine-fixtures.js";

beforeEach(() => {
  vi.useFakeTimers({ now: NOW });
});
afterEach(() => {
  vi.useRealTimers();
});

async function open(r: Rig): Promise<void> {
  await r.open();
  expect(r.ctl.status.status).toBe("open");
}

async function vehicle(r: Rig, obu = b2(), card = b4(), withB5 = true): Promise<void> {
  const frames: RsuEvent[] = [
    { kind: "obu", info: obu },
    { kind: "vehicle", info: { ...b3(), obuId: obu.obuId } },
    { kind: "card", info: { ...card, obuId: obu.obuId } },
  ];
  if (withB5) frames.push({ kind: "trade", info: { ...b5(), obuId: obu.obuId } });
  for (const f of frames) {
    r.link.frame(f);
    await r.settle();
  }
}

/** The barrier, light and display events, in order, as short strings. */
const devices = (outputs: LaneOutputEvent[]): string[] =>
  outputs.flatMap((o) =>
    o.type === "barrier"
      ? [`barrier ${o.action}`]
      : o.type === "light"
        ? [`light ${o.color}`]
        : o.type === "display"
          ? [`display ${o.tone}`]
          : o.type === "lane"
            ? [`lane ${o.status}`]
            : [],
  );

it("a paid vehicle, then a listed card: the light red after the listed card's display, the barrier not commanded", async () => {
  const r = rig();
  await open(r);
  await vehicle(r);
  const paid = r.outputs.length;
  expect(devices(r.outputs)).toEqual(["lane open", "light red", "barrier open", "light green", "display ok"]);
  // another vehicle, its card listed
  r.list.listed.add("43010000000000005678");
  await vehicle(
    r,
    b2({ obuId: "0a0b0c0d", contractSerial: "4301010000000043" }),
    b4({ card: { cardSerial: "0000000000005678" } }),
    false,
  );
  expect(devices(r.outputs.slice(paid))).toEqual(["display stop", "light red"]);
});

it("the lane closing (an operator's close) right after a paid vehicle: the light red, the barrier not commanded (that vehicle is still on its way through)", async () => {
  const r = rig();
  await open(r);
  await vehicle(r);
  const before = r.outputs.length;
  await r.ctl.closeLane({ name: "wang", uid: 1000 }, "barrier maintenance");
  await r.settle();
  expect(devices(r.outputs.slice(before))).toEqual(["light red", "lane closed", "display stop"]);
});

it("the journal failing right after a paid vehicle: the light red, the barrier not commanded", async () => {
  const r = rig();
  await open(r);
  await vehicle(r);
  const before = r.outputs.length;
  r.journal.health$.next({ healthy: false });
  await r.settle();
  expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
  expect(devices(r.outputs.slice(before))).toEqual(["light red", "lane closed", "display stop"]);
});

// new-user walkthrough (session 36): every planned stop logged "ETC SERVICE CLOSED" at error level, so a
// log alert on error lines paged at every restart
it("the lane's close is an error line when the journal fails, an info line when the lane stops", async () => {
  const lines: LogLine[] = [];
  const r = rig({ logger: recordingLogger(lines) });
  await open(r);
  const closing = () =>
    lines
      .filter((l) => /^ETC SERVICE CLOSED$|^ETC service closed: the lane is stopping$/.test(l.msg))
      .map((l) => [l.level, l.msg, (l.obj as { reason?: string }).reason]);
  await r.ctl.stop();
  expect(closing()).toEqual([["info", "ETC service closed: the lane is stopping", "stopping"]]);
  expect(lines.filter((l) => l.level === "error")).toEqual([]);
  const failing = rig({ logger: recordingLogger(lines) });
  await open(failing);
  lines.length = 0;
  failing.journal.health$.next({ healthy: false });
  await failing.settle();
  expect(closing()).toEqual([["error", "ETC SERVICE CLOSED", "journal"]]);
});

it("a paid vehicle's OBU read again with its card pulled out (or a card error): ALREADY_TRADED, no display, no red light, no record; removed from its place it is stopped; an OBU that did not pay is stopped", async () => {
  const r = rig();
  await open(r);
  await vehicle(r);
  const records = r.journal.records.length;
  const outputs = r.outputs.length;
  const answers = r.link.answers.length;
  for (const bits of [{ cardPresent: false }, { cardError: true }, { cardPresent: false, cardError: true }]) {
    r.link.frame({ kind: "obu", info: b2({ bits }) });
    await r.settle();
  }
  expect(devices(r.outputs.slice(outputs))).toEqual([]);
  expect(r.journal.records).toHaveLength(records);
  // each read-again gets the configured C2 and nothing else
  expect(r.link.answers.slice(answers).map((a) => a.cmd)).toEqual(
    [1, 2, 3].map(() => expect.objectContaining({ kind: "stop", obuId: b2().obuId })),
  );
  // another OBU, which did not pay, with its card out: stopped, shown, the light red
  const other = b2({ obuId: "0a0b0c0d", contractSerial: "4301010000000043", bits: { cardPresent: false } });
  r.link.frame({ kind: "obu", info: other });
  await r.settle();
  expect(devices(r.outputs.slice(outputs))).toEqual(["display stop", "light red"]);
  expect(r.journal.records.slice(records).map((x) => x.outcome)).toEqual(["OBU_NO_CARD"]);
  // the paid OBU read again removed from where it was fitted (handed back to the vehicle behind?): stopped
  const shown = r.outputs.length;
  r.link.frame({ kind: "obu", info: b2({ bits: { cardPresent: false, tampered: true } }) });
  await r.settle();
  expect(devices(r.outputs.slice(shown))).toEqual(["display stop", "light red"]);
  expect(r.journal.records.slice(records).map((x) => x.outcome)).toEqual(["OBU_NO_CARD", "OBU_TAMPERED"]);
});
