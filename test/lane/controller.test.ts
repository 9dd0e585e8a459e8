/**
 * The controller with a fake link, journal and status list, on vitest's fake clock: the start-up timer
 * (defect 5), guards seeded from the journal (4), a link blip and a graceful stop with a debit in flight,
 * a late B5 settling its suspect and a repeated B5 not recorded twice (6), B5s this lane cannot place
 * (ORPHAN_B5) and late ones that do not prove the open suspect, the status-list policy (12),
 * C0 after an unsolicited B0 and to an RSU silent on an open port, and the order reply -> commit -> barrier.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ErrorCodes, EtcError, NOTHING_WRITTEN } from "../../firmware-bridge/errors.js";
import { encodeData } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { JournalErrorCodes } from "../../src/journal/errors.js";
import { tacMissing } from "../../src/journal/tac.js";
import { localStamp } from "../../src/local-time.js";
import type { RsuCommand, RsuEvent } from "../../src/rsu/driver.js";
import { createNationalCodec } from "../../src/rsu/driver-national.js";
import { Tariff } from "../../src/tariff/tariff.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";
import { boothIntentPayload, FakeJournal, type Rig, RSU_OK, rig } from "./controller-fakes.js";
import { b2, b3, b4, b5, b8, CARD_ID, NOW, OBU_ID, OBU_SERIAL } from "./machine-fixtures.js";

beforeEach(() => {
  vi.useFakeTimers({ now: NOW });
});
afterEach(() => {
  vi.useRealTimers();
});

const ev = {
  b0: (over: Partial<typeof RSU_OK> = {}): RsuEvent => ({
    kind: "rsu-status",
    status: { ...RSU_OK, ...over },
  }),
  b2: (o = b2()): RsuEvent => ({ kind: "obu", info: o }),
  b3: (): RsuEvent => ({ kind: "vehicle", info: b3() }),
  b4: (c = b4()): RsuEvent => ({ kind: "card", info: c }),
  b5: (t = b5()): RsuEvent => ({ kind: "trade", info: t }),
  b8: (t = b8()): RsuEvent => ({ kind: "tac", info: t }),
};

/** Start the controller and open the lane (link up, C0, B0). */
async function open(r: Rig): Promise<void> {
  await r.ctl.start();
  r.link.up();
  await r.settle();
  r.link.frame(ev.b0());
  await r.settle();
  expect(r.ctl.status.status).toBe("open");
}

/** One vehicle up to its C6 (await-b5). */
async function toDebit(r: Rig, obu = b2(), card = b4()): Promise<void> {
  r.link.frame(ev.b2(obu));
  await r.settle();
  r.link.frame({ kind: "vehicle", info: { ...b3(), obuId: obu.obuId } });
  await r.settle();
  r.link.frame(ev.b4({ ...card, obuId: obu.obuId }));
  await r.settle();
}

/** The OBU read (B2, B3): its transaction waits for the B4, no debit sent. */
async function toAwaitB4(r: Rig): Promise<void> {
  r.link.frame(ev.b2());
  await r.settle();
  r.link.frame(ev.b3());
  await r.settle();
  expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b4" }]);
}

/** One vehicle's debit left without its B5: the link down past b5TimeoutMs, then up again (a B5_MISSING suspect). */
async function toSuspect(r: Rig): Promise<void> {
  await toDebit(r);
  r.link.down();
  await r.settle();
  await r.advance(1000); // b5TimeoutMs passes while the link is down
  r.link.up();
  await r.settle();
}

const kinds = (j: FakeJournal): string[] => j.records.map((x) => `${x.kind}:${x.outcome}`);

describe("RSU session: the one start-up timer (defect 5)", () => {
  it("a B0 arriving after the C0 timed out opens the lane, and no stray C0 follows", async () => {
    const r = rig();
    await r.ctl.start();
    r.link.up();
    await r.settle();
    expect(r.link.inits()).toBe(1);
    await r.advance(1000); // no B0 within initTimeoutMs: the lane waits initRetryMs before the next C0
    r.link.frame(ev.b0()); // ... and the RSU's late answer to the first C0 arrives
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
    await r.advance(10_000); // every start-up timer had its chance to fire
    expect(r.link.inits()).toBe(1);
    expect(r.link.antenna()).toEqual([true]);
    expect(r.ctl.status.status).toBe("open");
  });

  it("a B0 that is not ready keeps the lane closed and tries again once per initRetryMs", async () => {
    const r = rig();
    await r.ctl.start();
    r.link.up();
    await r.settle();
    r.link.frame(ev.b0({ rsuStatus: 1 }));
    await r.settle();
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "rsu-fault" });
    await r.advance(2999);
    expect(r.link.inits()).toBe(1);
    await r.advance(1);
    expect(r.link.inits()).toBe(2);
    r.link.frame(ev.b0());
    await r.settle();
    await r.advance(10_000);
    expect(r.link.inits()).toBe(2);
    expect(r.ctl.status.status).toBe("open");
  });

  it("an RSU reboot while open: lane closed, C0 again, open again", async () => {
    const r = rig();
    await open(r);
    r.link.frame(ev.b0({ rebooted: true }), { rebooted: true });
    await r.settle();
    expect(r.link.inits()).toBe(2);
    expect(r.ctl.counters.rsuReboots).toBe(1);
    r.link.frame(ev.b0());
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
    const lane = r.outputs.flatMap((o) => (o.type === "lane" ? [o.status] : []));
    expect(lane).toEqual(["open", "closed", "open"]);
  });

  it("an RSU that reboots while open and comes back not ready: LANE_CLOSED_RSU_INIT, then RSU_FAULT alone (docs/maintenance.md)", async () => {
    const r = rig();
    await open(r);
    const reasons: string[] = [];
    const sub = r.ctl.status$.subscribe((st) => {
      if (st.status === "closed") reasons.push(st.reason);
    });
    r.link.frame(ev.b0({ rebooted: true }), { rebooted: true });
    await r.settle();
    r.link.frame(ev.b0({ rsuStatus: 1 })); // the answer to the reboot's C0: not ready
    await r.settle();
    sub.unsubscribe();
    // the B0 is checked only once the lane is closed (rsu-init): no LANE_CLOSED_RSU_FAULT is raised, and the
    // reason goes from rsu-init to rsu-fault (a second lane.closed entry in the trail, src/audit/lane-trail.ts)
    expect(r.outputs.flatMap((o) => (o.type === "alarm" ? [o.code] : []))).toEqual([
      "LANE_CLOSED_RSU_INIT",
      "RSU_FAULT",
    ]);
    expect(reasons).toEqual(["rsu-init", "rsu-fault"]);
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "rsu-fault" });
  });
});

// review (session 43): the session's own timers sent C0 when the controller's mayInit said no (journal failed)
describe("no C0 while the journal has failed or the lane stops (the gate's mayInit)", () => {
  it("a reboot's C0 awaiting its B0 with a debit in flight, then the stop: no further C0 while it drains", async () => {
    const r = rig({ transaction: { drainTimeoutMs: 20_000, b5TimeoutMs: 20_000 } });
    await open(r);
    await toDebit(r);
    r.link.frame(ev.b0({ rebooted: true }), { rebooted: true });
    await r.settle();
    expect(r.link.inits()).toBe(2);
    const stopped = r.ctl.stop();
    await r.advance(15_000); // the session would cycle its C0 every initTimeoutMs + initRetryMs
    expect(r.link.inits()).toBe(2);
    await r.advance(10_000);
    await stopped;
  });

  it("a stop after a link blip, before the lane reopened: C4 00 goes out (the antenna may still be on)", async () => {
    const r = rig();
    await open(r);
    r.link.down();
    await r.settle();
    r.link.up();
    await r.settle();
    await r.ctl.stop();
    expect(r.link.wire).toEqual(["send:init", "antenna:on", "send:init", "antenna:off"]);
  });

  it("a C0 awaiting its B0 when the journal fails: no further C0, however long the journal stays failed", async () => {
    const r = rig();
    await open(r);
    r.link.frame(ev.b0({ rebooted: true }), { rebooted: true });
    await r.settle();
    expect(r.link.inits()).toBe(2); // the reboot's C0 awaits its B0
    r.journal.health$.next({ healthy: false });
    await r.settle();
    await r.advance(40_000); // ten times initTimeoutMs + initRetryMs
    expect(r.link.inits()).toBe(2);
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
  });

  it("a reboot B0 after the journal failed: no C0", async () => {
    const r = rig();
    await open(r);
    r.journal.health$.next({ healthy: false });
    await r.settle();
    r.link.frame(ev.b0({ rebooted: true }), { rebooted: true });
    await r.settle();
    await r.advance(40_000);
    expect(r.link.inits()).toBe(1);
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
  });

  it("a silent RSU on an open port when the journal fails: its C0 cycle stops, a heartbeat does not restart it", async () => {
    const r = rig();
    await open(r);
    r.link.silent();
    await r.settle();
    expect(r.link.inits()).toBe(2);
    r.journal.health$.next({ healthy: false });
    await r.settle();
    await r.advance(2000); // the C0's B0 deadline passes: the session would pause, then send C0 again
    r.link.up(); // a heartbeat
    await r.settle();
    await r.advance(40_000);
    expect(r.link.inits()).toBe(2);
  });
});

describe("a B0 with bytes after its declared fields (docs/protocol.md §7, B0)", () => {
  it("no PSAM decoded: the RSU_FAULT alarm and the closed reason name the undecoded bytes", async () => {
    const r = rig();
    await r.ctl.start();
    r.link.up();
    await r.settle();
    // the public samples' layout: PSAMNum 00, then a 9-byte PSAM entry the declaration cannot place
    r.link.frame(ev.b0({ psams: [], undecoded: "090000000000000000" }));
    await r.settle();
    const alarms = r.outputs.flatMap((o) => (o.type === "alarm" ? [o] : []));
    const detail =
      "no PSAM; the B0 carries 9 bytes after its declared fields, not decoded: 090000000000000000 " +
      "(the public national samples read so: their PSAMNum 00 does not count the PSAM entry that follows it, docs/protocol.md §7, B0)";
    expect(alarms.at(-1)).toMatchObject({ code: "RSU_FAULT", message: `RSU not ready: ${detail}` });
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "rsu-fault", detail });
  });

  it("a B0 that is ready: the lane opens, the undecoded bytes only logged", async () => {
    const log: LogLine[] = [];
    const r = rig({ logger: recordingLogger(log) });
    await r.ctl.start();
    r.link.up();
    await r.settle();
    r.link.frame(ev.b0({ undecoded: "aabb" }));
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
    expect(log).toContainEqual(
      expect.objectContaining({
        level: "warn",
        msg: "B0 carries 2 bytes after its declared fields, not decoded: aabb",
      }),
    );
  });
});

describe("an unsolicited B0 while open", () => {
  it("without a reboot mark while a debit waits for its B5: lane closed, no C0 until the B5 recorded the debit", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    r.link.frame(ev.b0()); // re-announced (every national B0: it has no reboot mark)
    await r.settle();
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "rsu-init" });
    expect(r.link.inits()).toBe(1); // C0 would reset the RSU, which owes the B5
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b5" }]);
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(r.link.inits()).toBe(2);
    r.link.frame(ev.b0());
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
  });

  it("without a reboot mark, the B5 never coming: C0 once the debit became a suspect", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    r.link.frame(ev.b0());
    await r.settle();
    await r.advance(999);
    expect(r.link.inits()).toBe(1);
    await r.advance(1); // b5TimeoutMs
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING"]);
    expect(r.link.inits()).toBe(2);
  });

  it("without a reboot mark and nothing in flight: C0 at once, even on a lane an operator closed", async () => {
    const r = rig();
    await open(r);
    await r.ctl.closeLane({ name: "wang", uid: 1000 }, "barrier maintenance");
    r.link.frame(ev.b0()); // the lane stays closed for the operator: no gate change brings C0
    await r.settle();
    expect(r.link.inits()).toBe(2);
    expect(r.ctl.counters.rsuReboots).toBe(0);
  });

  it("a reboot (legacy RSCTL 0x98) with a debit in flight: C0 at once (the RSU lost what it had in flight)", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    r.link.frame(ev.b0({ rebooted: true }), { rebooted: true });
    await r.settle();
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "rsu-init" });
    expect(r.link.inits()).toBe(2);
    expect(r.ctl.counters.rsuReboots).toBe(1);
  });
});

describe("a reboot B0 during the crash-recovery listen window (review finding 2)", () => {
  it("one C0 for the reboot: its B0 opens the lane, and no second C0 (whose B0 would close it again) follows", async () => {
    const j = new FakeJournal();
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first); // killed here: the intent stays
    const r = rig({ journal: j });
    await r.ctl.start();
    r.link.up();
    await r.settle();
    expect(r.link.inits()).toBe(0); // listening for the B5 the RSU may repeat
    r.link.frame(ev.b0({ rebooted: true }), { rebooted: true });
    await r.settle();
    // before: the window's end sent C0, and then the reboot branch sent another
    expect(r.link.inits()).toBe(1);
    expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED"]);
    r.link.frame(ev.b0());
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
    await r.advance(10_000);
    expect(r.link.inits()).toBe(1);
    expect(r.ctl.status.status).toBe("open");
  });
});

describe("a B0 with the reboot mark (legacy RSCTL 0x98) while C0 awaits its answer", () => {
  // The link hands such a B0 over as an answer (no rsuRebooted, docs/link.md); its status carries the mark.
  const marked = (): RsuEvent => ev.b0({ rebooted: true });

  it("a normal power-on: the marked answer to the first C0 brings one more C0, whose answer opens the lane", async () => {
    const r = rig();
    await r.ctl.start();
    r.link.up();
    await r.settle();
    expect(r.link.inits()).toBe(1);
    r.link.frame(marked());
    await r.settle();
    expect(r.link.inits()).toBe(2);
    expect(r.ctl.status.status).toBe("closed");
    expect(r.link.antenna()).toEqual([]);
    r.link.frame(ev.b0());
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
    expect(r.ctl.counters.rsuReboots).toBe(0);
    await r.advance(10_000); // no start-up timer left to send another C0
    expect(r.link.inits()).toBe(2);
  });

  it("an RSU whose boot ends while the lane awaits the answer to a C0 it dropped is not taken as initialised", async () => {
    const r = rig();
    await open(r);
    r.link.silent(); // the watchdog trips while the RSU boots: C0 at once, and the booting RSU drops it
    await r.settle();
    expect(r.link.inits()).toBe(2);
    r.link.up(); // its boot ends: the unasked B0 with the reboot mark, within initTimeoutMs of that C0
    r.link.frame(marked());
    await r.settle();
    expect(r.link.inits()).toBe(3);
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "rsu-down" });
    expect(r.link.antenna()).toEqual([true]);
    r.link.frame(ev.b0()); // the answer to the C0 it did get
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
    expect(r.link.antenna()).toEqual([true, true]);
  });

  it("an RSU that marks every answer opens the lane on the third, with a warning", async () => {
    const lines: LogLine[] = [];
    const r = rig({ logger: recordingLogger(lines) });
    await r.ctl.start();
    r.link.up();
    await r.settle();
    r.link.frame(marked());
    await r.settle();
    r.link.frame(marked());
    await r.settle();
    expect(r.link.inits()).toBe(3);
    expect(r.ctl.status.status).toBe("closed");
    r.link.frame(marked());
    await r.settle();
    expect(r.link.inits()).toBe(3);
    expect(r.ctl.status.status).toBe("open");
    const warned = lines.filter((l) => l.level === "warn" && l.msg.includes("reboot mark"));
    expect(warned.map((l) => l.msg)).toEqual([
      "3 C0s in a row answered by a B0 with the reboot mark (RSCTL 0x98): taking the last as the answer",
    ]);
  });

  it("a C0 left unanswered ends the row: the count of marked answers starts again", async () => {
    const r = rig();
    await r.ctl.start();
    r.link.up();
    await r.settle();
    r.link.frame(marked());
    await r.settle();
    r.link.frame(marked());
    await r.settle();
    expect(r.link.inits()).toBe(3);
    await r.advance(4000); // no B0 within initTimeoutMs, then initRetryMs: C0 again
    expect(r.link.inits()).toBe(4);
    r.link.frame(marked());
    await r.settle();
    expect(r.link.inits()).toBe(5);
    expect(r.ctl.status.status).toBe("closed");
  });
});

describe("a silent RSU on an open port (serial or pty watchdog trip, docs/link.md States)", () => {
  it("C0 goes on every initTimeoutMs + initRetryMs while the port is open; the B0 that answers one reopens the lane", async () => {
    const r = rig();
    await open(r);
    // the line goes dead and the RSU reboots meanwhile: its reboot B0 is lost, it waits for C0
    r.link.silent();
    await r.settle();
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "rsu-down" });
    expect(r.link.inits()).toBe(2); // no debit in flight: C0 at once
    await r.advance(3999); // initTimeoutMs 1000 for its B0, then initRetryMs 3000
    expect(r.link.inits()).toBe(2);
    await r.advance(1);
    expect(r.link.inits()).toBe(3);
    await r.advance(4000);
    expect(r.link.inits()).toBe(4);
    // the line is back: the RSU answers the C0 (its B0 brings the link up first, as RsuLink does)
    r.link.up();
    r.link.frame(ev.b0());
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
    await r.advance(10_000); // every start-up timer had its chance to fire
    expect(r.link.inits()).toBe(4);
    expect(r.link.antenna()).toEqual([true, true]);
  });

  it("a week of unanswered C0s is not a week of log lines: the first three of the series, then one in 60, each saying how many", async () => {
    const lines: LogLine[] = [];
    const r = rig({ logger: recordingLogger(lines) });
    await open(r);
    r.link.silent();
    await r.settle();
    await r.advance(4000 * 150); // 150 more C0s, one per initTimeoutMs + initRetryMs
    expect(r.link.inits()).toBe(152);
    const warned = lines.filter((l) => l.msg.startsWith("no B0 within"));
    // the series began with the C0 sent at the trip (the 1st unanswered); the last C0 is still waiting
    expect(warned.map((l) => (l.obj as { unanswered: number }).unanswered)).toEqual([1, 2, 3, 60, 120]);
    expect(warned[3]!.msg).toBe("no B0 within 1000 ms after C0 (60 C0s unanswered; logged once per 60)");
    expect(lines.filter((l) => l.msg === "C0 sent").length).toBe(1 + 3 + 2); // the opening C0, then as above
    // a B0 ends the series: the next silence is logged from its first C0 again
    r.link.up();
    r.link.frame(ev.b0());
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
    r.link.silent();
    await r.settle();
    await r.advance(1000);
    expect(lines.filter((l) => l.msg.startsWith("no B0 within")).length).toBe(6);
  });

  it("the line comes back with a heartbeat during the pause: C0 at once, not after the rest of initRetryMs", async () => {
    const r = rig();
    await open(r);
    r.link.silent();
    await r.settle();
    await r.advance(1000); // the C0 sent at the trip got no B0: the pause before the next one
    expect(r.link.inits()).toBe(2);
    r.link.up(); // a heartbeat (not delivered to the controller) brought the link up
    await r.advance(0);
    expect(r.link.inits()).toBe(3);
    r.link.frame(ev.b0());
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
  });

  it("a late B0 that brings the link back during the pause opens the lane; no second C0", async () => {
    const r = rig();
    await open(r);
    r.link.silent();
    await r.settle();
    await r.advance(1000);
    r.link.up();
    r.link.frame(ev.b0()); // the late answer to the C0 sent at the trip
    await r.advance(0);
    expect(r.ctl.status.status).toBe("open");
    await r.advance(10_000);
    expect(r.link.inits()).toBe(2);
  });

  it("with a debit in flight no C0 goes out until the debit ended; then C0 while still silent", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    r.link.silent();
    await r.settle();
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b5" }]);
    await r.advance(999);
    expect(r.link.inits()).toBe(1); // C0 would reset the RSU, which owes the B5
    await r.advance(1); // b5TimeoutMs: the debit becomes a suspect
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING"]);
    expect(r.link.inits()).toBe(2);
    r.link.up();
    r.link.frame(ev.b0());
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
  });

  it("a lost port (unplug, or TCP closed by its watchdog) sends nothing until the link is up again", async () => {
    const r = rig();
    await open(r);
    r.link.down();
    await r.settle();
    await r.advance(60_000);
    expect(r.link.inits()).toBe(1);
    r.link.up();
    await r.settle();
    expect(r.link.inits()).toBe(2);
  });
});

describe("reply, commit, barrier", () => {
  it("a good B5: C1 handed to the port before the commit, the barrier after it", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    let barrierBeforeCommit = false;
    r.journal.onWrite = () => {
      barrierBeforeCommit = r.outputs.some((o) => o.type === "barrier" && o.action === "open");
    };
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    const c1 = r.link.answers.find((a) => a.to === "trade");
    expect(c1).toMatchObject({ cmd: { kind: "continue" }, recordsAtReply: 0 });
    expect(barrierBeforeCommit).toBe(false);
    expect(r.outputs.filter((o) => o.type === "barrier" && o.action === "open")).toHaveLength(1);
    expect(r.journal.intents.size).toBe(0);
  });

  it("a failed commit after a good B5: no barrier, lane closed, antenna off, the intent kept", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    r.journal.failCommits = true;
    r.link.frame(ev.b5());
    await r.settle();
    expect(r.outputs.some((o) => o.type === "barrier" && o.action === "open")).toBe(false);
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
    expect(r.link.antenna()).toEqual([true, false]);
    expect(r.journal.intents.size).toBe(1);
    // the card paid and has no record yet: held, so the booth cannot charge it again before the restart
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    expect(r.ctl.guards.isHeld(OBU_SERIAL)).toBe(true);
  });

  // review: a record the journal refused as invalid (E605, the journal still healthy) closed the lane as
  // "journal write failed", which nothing then cleared: the status named the disk for a fault of the lane
  it("a record the healthy journal refuses (E605): no barrier, lane closed naming the refusal, not a write failure", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    r.journal.refuseCommits = true;
    r.link.frame(ev.b5());
    await r.settle();
    expect(r.outputs.some((o) => o.type === "barrier" && o.action === "open")).toBe(false);
    expect(r.ctl.status).toEqual({
      status: "closed",
      reason: "journal",
      detail:
        "the journal refused a record the lane built (a fault of the lane, the record in its log): restart the lane",
    });
    expect(
      r.outputs
        .filter((o) => o.type === "alarm" && o.code === "JOURNAL_FAILED")
        .map((o) => (o as { message: string }).message),
    ).toEqual([
      "the journal refused a record the lane built (the record is in the log): ETC trading stopped, no barrier opens without a record",
    ]);
    // a write that fails (a full disk): the failure, as before
    const w = rig();
    await open(w);
    await toDebit(w);
    w.journal.failCommits = true;
    w.link.frame(ev.b5());
    await w.settle();
    expect(w.ctl.status).toEqual({ status: "closed", reason: "journal", detail: "journal write failed" });
  });

  // review: the journal turned unhealthy with no vehicle's write (the uplink's) and the lane stayed open
  // until a vehicle's intent failed (that vehicle stopped)
  it("the journal turning unhealthy with no vehicle's write: the lane closes at once, alarm", async () => {
    const r = rig();
    await open(r);
    r.journal.health$.next({ healthy: false });
    await r.settle();
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
    expect(r.link.antenna()).toEqual([true, false]);
    expect(r.outputs.filter((o) => o.type === "alarm").map((o) => (o as { code: string }).code)).toEqual([
      "JOURNAL_FAILED",
      "LANE_CLOSED_JOURNAL",
    ]);
    // the next vehicle is not traded, and nothing is written for it
    r.link.frame(ev.b2(b2()));
    await r.settle();
    expect(r.journal.intents.size).toBe(0);
    expect(r.link.answersTo("card")).toEqual([]);
  });

  // review (session 43): a link loss does not switch an RSU's antenna off (only C0 or a reboot does), but the
  // gate took it for off, so a journal failure after it sent no C4 00 and the antenna stayed on
  it("the journal failing while the link is down: C4 00 as soon as the link is back (no C0: the journal failed)", async () => {
    const r = rig();
    await open(r);
    r.link.down();
    await r.settle();
    r.journal.health$.next({ healthy: false });
    await r.settle();
    expect(r.link.antenna()).toEqual([true]); // nothing can be sent
    r.link.up();
    await r.settle();
    await r.advance(60_000);
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
    expect(r.link.wire).toEqual(["send:init", "antenna:on", "antenna:off"]);
  });

  it("the journal failing after a link blip while a debit holds C0: C4 00 at once", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    r.link.down();
    await r.settle();
    r.link.up();
    await r.settle();
    expect(r.link.inits()).toBe(1); // C0 held for the debit
    r.journal.health$.next({ healthy: false });
    await r.settle();
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
    expect(r.link.antenna()).toEqual([true, false]);
  });

  it("the journal failing while the RSU is silent on an open port with a debit in flight: C4 00 through the open port", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    r.link.silent();
    await r.settle();
    r.journal.health$.next({ healthy: false });
    await r.settle();
    expect(r.link.antenna()).toEqual([true, false]);
    r.link.up(); // a heartbeat: the antenna is off already, no second C4 00
    await r.settle();
    await r.advance(1000); // b5TimeoutMs: the debit becomes a suspect
    expect(r.link.antenna()).toEqual([true, false]);
    expect(r.link.inits()).toBe(1);
  });

  it("the journal failing after the link came back, while its C0 awaits the B0: C4 00 (a C0 need not switch the antenna off)", async () => {
    const r = rig();
    await open(r);
    r.link.down();
    await r.settle();
    r.link.up();
    await r.settle();
    r.journal.health$.next({ healthy: false });
    await r.settle();
    await r.advance(60_000);
    expect(r.link.wire).toEqual(["send:init", "antenna:on", "send:init", "antenna:off"]);
  });

  it("a link blip on an open lane: C0, then C4 01 when it opens again, and no C4 00", async () => {
    const r = rig();
    await open(r);
    r.link.down();
    await r.settle();
    r.link.up();
    await r.settle();
    r.link.frame(ev.b0());
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
    expect(r.link.wire).toEqual(["send:init", "antenna:on", "send:init", "antenna:on"]);
  });

  // review: the journal's probe made it writable again and every indicator said so, while the lane stayed
  // closed as "journal write failed" with nothing telling that only a restart opens it
  it("the journal writable again after a failure: still closed (a restart records what it left), and the status says so", async () => {
    const r = rig();
    await open(r);
    const notices: string[] = [];
    r.ctl.events$.subscribe((e) => {
      if (e.type === "notice") notices.push(e.code);
    });
    r.journal.health$.next({ healthy: false });
    await r.settle();
    expect(r.ctl.status).toEqual({ status: "closed", reason: "journal", detail: "journal write failed" });
    r.journal.health$.next({ healthy: true });
    await r.settle();
    expect(r.ctl.status).toEqual({
      status: "closed",
      reason: "journal",
      detail:
        "journal write failed; the journal is writable again: restart the lane to record what the failure left and open",
    });
    expect(notices).toEqual(["JOURNAL_WRITABLE_RESTART_NEEDED"]);
    expect(r.link.antenna()).toEqual([true, false]);
    // failing again: the detail goes back to the failure, no second JOURNAL_FAILED alarm
    r.journal.health$.next({ healthy: false });
    await r.settle();
    expect(r.ctl.status).toEqual({ status: "closed", reason: "journal", detail: "journal write failed" });
    expect(r.outputs.filter((o) => o.type === "alarm" && o.code === "JOURNAL_FAILED")).toHaveLength(1);
    // an operator's open does not open it
    const opened = await r.ctl.openLane({ name: "maint", uid: 1000 });
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
    expect(opened.message).toContain("lane still closed: journal write failed");
  });

  // the status said "journal write failed" and the alarm "cannot be written" when a read met a damaged file
  it("a journal read that failed: the status and the alarm say read, not write", async () => {
    const r = rig();
    await open(r);
    r.journal.health$.next({ healthy: false, error: { read: true } });
    await r.settle();
    expect(r.ctl.status).toEqual({ status: "closed", reason: "journal", detail: "journal read failed" });
    expect(
      r.outputs.flatMap((o) => (o.type === "alarm" && o.code === "JOURNAL_FAILED" ? [o.message] : [])),
    ).toEqual(["the journal cannot be read: ETC trading stopped, no barrier opens without a record"]);
    r.journal.health$.next({ healthy: true });
    await r.settle();
    expect(r.ctl.status).toMatchObject({
      detail:
        "journal read failed; the journal is writable again: restart the lane to record what the failure left and open",
    });
    // a write failing after it: the detail names the write
    r.journal.health$.next({ healthy: false, error: {} });
    await r.settle();
    expect(r.ctl.status).toEqual({ status: "closed", reason: "journal", detail: "journal write failed" });
  });

  // review: the hold after such a failure was the guards' unsettledHoldMs window, so once it passed (the lane
  // closed until a restart, the journal writable again) the booth's checks said the card of a debit with no
  // record was free (docs/lane.md: held "until the restart records the debit")
  it.each([
    [
      "a good B5 whose commit fails",
      (r: Rig) => {
        r.journal.failCommits = true;
        r.link.frame(ev.b5());
      },
    ],
    [
      "an uncertain B5 whose intent cannot be rewritten before C8",
      (r: Rig) => {
        r.journal.failIntents = true;
        r.link.frame(ev.b5(b5({ errorCode: 0x01, result: "uncertain" })));
      },
    ],
  ])(
    "%s: the card and OBU stay held past unsettledHoldMs, in memory and by the open intent in the journal",
    async (_, fail) => {
      const r = rig({ transaction: { unsettledHoldMs: 60_000 } });
      await open(r);
      await toDebit(r);
      fail(r);
      await r.settle();
      expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
      r.journal.failCommits = false;
      r.journal.failIntents = false;
      r.journal.health$.next({ healthy: true }); // the journal's probe finds it writable again
      await r.advance(61_000);
      expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" }); // until a restart
      expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
      expect(r.ctl.guards.isHeld(OBU_SERIAL)).toBe(true);
      // what the booth asks the journal besides the guards before a DEBIT (src/booth/card-loop.ts held)
      expect(r.journal.openIntentOf({ cardId: CARD_ID, obuSerial: null })).toBe(1);
      expect(r.journal.openIntentOf({ cardId: null, obuSerial: OBU_SERIAL })).toBe(1);
    },
  );

  it("an open RSU debit intent naming the card holds it over DSRC whatever the guards' memory says (journalHolds)", async () => {
    const r = rig({ transaction: { unsettledHoldMs: 0 } });
    await open(r);
    // another OBU's debit of this card, its record not written (as a failed commit leaves it)
    const debit = { card: { cardId: CARD_ID }, obu: { obuId: "0badcafe", obuSerial: "4301000000000999" } };
    r.journal.writeIntent("0badcafe", JSON.stringify({ state: { phase: "await-b5", debit }, stage: {} }));
    await toDebit(r);
    expect(kinds(r.journal)).toEqual(["stop:UNSETTLED_DEBIT"]);
    expect(r.link.answersTo("card")).not.toContainEqual(expect.objectContaining({ kind: "debit" }));
  });

  // before, the B5 that asked for the C8 (the card's offline serial, the PSAM number and serial) was in the
  // link's debug wire log alone: the restart's CRASH_RECOVERED suspect has none of it
  it.each([
    [
      "cannot be rewritten",
      (r: Rig) => {
        r.journal.failIntents = true;
      },
    ],
    [
      "is rewritten but its fdatasync fails",
      (r: Rig) => {
        r.journal.durable = () => Promise.resolve(false);
      },
    ],
  ])(
    "an uncertain B5 whose intent %s before C8: no C8, lane closed, the card and OBU held, the B5 logged in full",
    async (_, fail) => {
      const lines: LogLine[] = [];
      const r = rig({ logger: recordingLogger(lines) });
      await open(r);
      await toDebit(r);
      fail(r);
      const uncertain = b5({ errorCode: 0x01, result: "uncertain", tac: null });
      r.link.frame(ev.b5(uncertain), { raw: "ffff18b501" });
      await r.settle();
      expect(r.link.answersTo("trade")).not.toContainEqual(expect.objectContaining({ kind: "fetch-tac" }));
      expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
      // the debit's first note is still on disk: the restart records it; until then nothing charges the card
      expect(r.journal.intents.size).toBe(1);
      expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
      expect(r.ctl.guards.isHeld(OBU_SERIAL)).toBe(true);
      expect(
        lines.filter((l) => l.msg.startsWith("B5 BEFORE C8 NOT KEPT")).map((l) => [l.level, l.obj]),
      ).toEqual([
        [
          "error",
          {
            obuId: OBU_ID,
            intentId: 1,
            cardId: CARD_ID,
            obuSerial: OBU_SERIAL,
            b5: uncertain,
            rawB5: "ffff18b501",
          },
        ],
      ]);
      // and the journal's line names the debit too (debit-intents.ts)
      expect(
        lines
          .filter((l) => l.level === "error" && l.msg.includes("C8 not sent; the C6 went out"))
          .map((l) => l.obj),
      ).toEqual([expect.objectContaining({ intentId: 1, cardId: CARD_ID, obuSerial: OBU_SERIAL })]);
    },
  );
});

describe("the debit intent is on disk before the debit command leaves (src/journal/wal-sync.ts)", () => {
  /** Holds every intent's fdatasync until `release(ok)`. */
  function holdDurable(r: Rig): { release(ok: boolean): void } {
    const held: ((ok: boolean) => void)[] = [];
    r.journal.durable = () => new Promise<boolean>((resolve) => held.push(resolve));
    return {
      release: (ok) => {
        for (const f of held.splice(0)) f(ok);
      },
    };
  }
  const order = (r: Rig): string[] => r.link.answers.map((a) => a.to).filter((to) => to !== "rsu-status");
  const cmds = (r: Rig, to: RsuEvent["kind"]): string[] =>
    r.link.answersTo(to).map((c) => (c === "ACK" ? c : c.kind));

  it("the C6 waits for the intent's fdatasync and goes out once it completed", async () => {
    const r = rig();
    await open(r);
    const sync = holdDurable(r);
    r.link.frame(ev.b2(b2()));
    await r.settle();
    r.link.frame({ kind: "vehicle", info: { ...b3(), obuId: OBU_ID } });
    await r.settle();
    r.link.frame(ev.b4({ ...b4(), obuId: OBU_ID }));
    await vi.advanceTimersByTimeAsync(0);
    expect(r.journal.intents.size).toBe(1); // written...
    expect(cmds(r, "card")).not.toContain("debit"); // ...and the C6 waits
    sync.release(true);
    await r.settle();
    expect(cmds(r, "card")).toContain("debit");
  });

  it("a frame of the OBU whose intent waits is handled after its C6, in the order it came", async () => {
    const r = rig();
    await open(r);
    const sync = holdDurable(r);
    r.link.frame(ev.b2());
    r.link.frame({ kind: "vehicle", info: { ...b3(), obuId: OBU_ID } });
    r.link.frame(ev.b4({ ...b4(), obuId: OBU_ID }));
    await vi.advanceTimersByTimeAsync(0);
    // an RSU that answers before the C6 left (no RSU does): the B5 waits behind the step that sends the C6
    r.link.frame(ev.b5());
    await vi.advanceTimersByTimeAsync(0);
    expect(order(r)).toEqual(["obu", "vehicle"]);
    expect(r.journal.records).toEqual([]);
    sync.release(true);
    await r.settle();
    expect(order(r)).toEqual(["obu", "vehicle", "card", "trade"]);
    expect(cmds(r, "card")).toEqual(["debit"]);
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    // the fdatasync's end is a stage time of the record, between the B4 and the C6
    const st = r.journal.records[0]!.stageTimes as Record<string, number>;
    expect(st.intentDurable).toBeGreaterThanOrEqual(st.b4In as number);
    expect(st.c6Out).toBeGreaterThanOrEqual(st.intentDurable as number);
  });

  it("the drain times out while a C8's intent rewrite waits: the C8 goes, then the LANE_STOPPED suspect, before the stop ends", async () => {
    const r = rig({ transaction: { drainTimeoutMs: 500 } });
    await open(r);
    await toDebit(r); // C6 out, await-b5
    const log = r.link.wire;
    const stopped = r.ctl.stop();
    await vi.advanceTimersByTimeAsync(0);
    const sync = holdDurable(r);
    await vi.advanceTimersByTimeAsync(499);
    r.link.frame(ev.b5(b5({ errorCode: 0x01, result: "uncertain" }))); // -> await-b8: its rewrite waits
    await vi.advanceTimersByTimeAsync(1); // the drain times out
    await vi.advanceTimersByTimeAsync(0);
    sync.release(true);
    await vi.advanceTimersByTimeAsync(0);
    await stopped;
    expect(kinds(r.journal)).toEqual(["suspect:LANE_STOPPED"]);
    expect(r.journal.intents.size).toBe(0);
    expect(log.indexOf("reply:fetch-tac")).toBeGreaterThanOrEqual(0);
    expect(log.indexOf("reply:fetch-tac")).toBeLessThan(log.indexOf("antenna:off"));
  });

  it("an intent whose fdatasync failed: no C6, lane closed, nothing held (no debit was sent)", async () => {
    const r = rig();
    await open(r);
    r.journal.durable = () => Promise.resolve(false);
    await toDebit(r);
    expect(r.link.answersTo("card").map((c) => (c === "ACK" ? c : c.kind))).not.toContain("debit");
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    // withdrawn: before, it stayed, and the next start recorded a CRASH_RECOVERED suspect holding the card
    // for a C6 that was never sent
    expect(r.journal.intents.size).toBe(0);
  });

  it("a C8's rewrite whose fdatasync failed: the intent stays (its C6 may have debited), the card held", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    r.journal.durable = () => Promise.resolve(false);
    r.link.frame(ev.b5(b5({ balanceAfter: 9000 }))); // does not prove the debit: C8 follows its rewrite
    await r.settle();
    // no C8 (the B5 is answered with the lane's stop)
    expect(r.link.answersTo("trade").map((c) => (c === "ACK" ? c : c.kind))).not.toContain("fetch-tac");
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
    expect(r.journal.intents.size).toBe(1);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
  });
});

describe("an answer in time is checked as a late one is (review finding 1)", () => {
  it("a complete B5 00 in time whose balance after is not balance before - amount: C8, no paid record, no barrier, a B5_MISMATCH suspect", async () => {
    const r = rig();
    await open(r);
    await toDebit(r); // balance 10000, fee 1500 - 5% = 1425
    r.link.frame(ev.b5(b5({ balanceAfter: 9000 })));
    await r.settle();
    expect(r.journal.records).toEqual([]);
    expect(r.link.answersTo("trade")).toEqual([{ kind: "fetch-tac", obuId: OBU_ID, epSerial: 17 }]);
    await r.advance(1000); // b8TimeoutMs: no B8
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISMATCH"]);
    expect(r.journal.records[0]).toMatchObject({ amount: 1425, tac: null, balanceBefore: 10_000 });
    expect(String(r.journal.records[0]!.extra?.problem)).toMatch(
      /balance after 9000 is not balance before 10000 - amount 1425/,
    );
    expect(r.outputs.some((o) => o.type === "barrier" && o.action === "open")).toBe(false);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    expect(r.journal.intents.size).toBe(0);
  });
});

describe("a B8 after its machine gave up is judged as one in time", () => {
  /** A B5 00 that does not prove the debit, C8, no B8 in time: a B5_MISMATCH suspect; then the late B8. */
  async function lateB8(r: Rig, mismatching: Parameters<typeof b5>[0], olderRecord = false): Promise<void> {
    await open(r);
    await toDebit(r); // balance 10000, fee 1500 - 5% = 1425, PurchaseTime 20250716103000
    r.link.frame(ev.b5(b5(mismatching)));
    await r.settle();
    expect(r.link.answersTo("trade")).toEqual([{ kind: "fetch-tac", obuId: OBU_ID, epSerial: 17 }]);
    await r.advance(1000); // b8TimeoutMs: no B8
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISMATCH"]);
    // as an earlier version wrote it: without the B5's own TransTime
    if (olderRecord) delete r.journal.records[0]!.extra?.b5TransTime;
    r.link.frame(ev.b8()); // TAC 0badcafe, balance after 8575 = 10000 - 1425
    await r.settle();
  }

  it("the B5 reported another TransTime (another purchase): its late B8 does not settle the suspect", async () => {
    const r = rig();
    await lateB8(r, { transTime: "20250715103000" });
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISMATCH"]);
    expect(r.journal.records[0]).toMatchObject({
      tac: null,
      transTime: "20250716103000",
      extra: { b5TransTime: "20250715103000" },
    });
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
  });

  it("the B5's balance after disagreed, its TransTime is the one sent: a late B8 that agrees settles it with its TAC", async () => {
    const r = rig();
    await lateB8(r, { balanceAfter: 9000 });
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT_SETTLED"]);
    expect(r.journal.records[0]).toMatchObject({ tac: "0badcafe", balanceAfter: 8575 });
  });

  it("a suspect written before the lane recorded its B5's TransTime is never proved by a late B8", async () => {
    const r = rig();
    await lateB8(r, { balanceAfter: 9000 }, true);
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISMATCH"]);
  });
});

describe("a debit command the link refuses (review finding 3)", () => {
  const refuseDebit =
    (e: Error) =>
    (cmd: RsuCommand): Error | undefined =>
      cmd.kind === "debit" ? e : undefined;

  it("refused before a byte was written (E302, link lost after the B4): a DEBIT_NOT_SENT stop, its intent deleted, the card not held", async () => {
    const r = rig();
    await open(r);
    r.link.refuseReply = refuseDebit(
      new EtcError(
        ErrorCodes.LinkDown,
        "B4 received before the RSU link was lost; not sending C6",
        NOTHING_WRITTEN,
      ),
    );
    await toDebit(r);
    expect(kinds(r.journal)).toEqual(["stop:DEBIT_NOT_SENT"]);
    expect(r.journal.records[0]).toMatchObject({
      amount: 0,
      cardId: CARD_ID,
      obuSerial: OBU_SERIAL,
      tac: null,
      extra: { linkError: "E302_LINK_DOWN", command: "C6", toManual: true },
    });
    expect(r.journal.intents.size).toBe(0);
    expect(r.ctl.inFlight()).toEqual([]);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    expect(r.ctl.guards.isHeld(OBU_SERIAL)).toBe(false);
    await r.advance(1000); // b5TimeoutMs: no B5_MISSING suspect follows
    expect(kinds(r.journal)).toEqual(["stop:DEBIT_NOT_SENT"]);
    // the card was never debited: its next pass is charged once
    r.link.refuseReply = undefined;
    await toDebit(r);
    const c6 = r.link.answersTo("card").at(-1) as Extract<RsuCommand, { kind: "debit" }>;
    expect(c6.kind).toBe("debit");
    // its B5 reports the PurchaseTime this C6 carried (a second later than the refused one)
    r.link.frame(ev.b5(b5({ transTime: localStamp(c6.purchaseTimeMs, 480) })));
    await r.settle();
    expect(kinds(r.journal)).toEqual(["stop:DEBIT_NOT_SENT", "transaction:EXIT_DEBIT"]);
  });

  // review: nothing withdrew the intent when the stop's commit failed: the next start took it for a debit
  // whose answer was lost, a CRASH_RECOVERED suspect holding a card that was never debited
  it("refused before a byte was written, the DEBIT_NOT_SENT stop's commit failing: the intent is withdrawn, the lane closes, and a restart records nothing and holds nothing", async () => {
    const j = new FakeJournal();
    const r = rig({ journal: j });
    await open(r);
    r.link.refuseReply = refuseDebit(
      new EtcError(ErrorCodes.LinkDown, "B4 received before the RSU link was lost", NOTHING_WRITTEN),
    );
    j.failCommits = true; // the disk fills between the intent's write and the stop's commit
    await toDebit(r);
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
    expect(j.records).toEqual([]);
    expect(j.intents.size).toBe(0);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    expect(r.ctl.guards.isHeld(OBU_SERIAL)).toBe(false);
    // restarted on the same journal, writable again
    j.failCommits = false;
    j.health$.next({ healthy: true });
    const again = rig({ journal: j });
    await open(again); // nothing to listen for: C0 at once
    await again.advance(2000);
    expect(j.records).toEqual([]);
    expect(again.ctl.guards.isHeld(CARD_ID)).toBe(false);
    expect(again.outputs.some((o) => o.type === "alarm" && o.code === "CRASH_RECOVERY")).toBe(false);
  });

  it("a write that failed after it may have started (E205 write failed, not marked nothing-written): the debit may be out, a suspect as before", async () => {
    const r = rig();
    await open(r);
    r.link.refuseReply = refuseDebit(new EtcError(ErrorCodes.PortClosed, "serial:/dev/x: write failed: EIO"));
    await toDebit(r);
    expect(r.journal.records).toEqual([]);
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b5" }]);
    await r.advance(1000);
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING"]);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
  });
});

describe("a B2 from an OBU that has a transaction (the RSU started over with it)", () => {
  // review: the old transaction's record was committed (one fsync) before the new B2 got its C1
  it("before its debit: the new B2 is answered C1 before the OBU_LEFT is committed, which shows nothing; the new transaction pays once", async () => {
    const r = rig();
    await open(r);
    r.link.frame(ev.b2());
    await r.settle();
    r.link.frame(ev.b3());
    await r.settle(); // await-b4
    r.link.frame(ev.b2());
    await r.settle();
    const c1s = r.link.answers.filter((a) => a.to === "obu");
    expect(c1s.map((a) => [a.cmd !== "ACK" && a.cmd.kind, a.recordsAtReply])).toEqual([
      ["continue", 0],
      ["continue", 0],
    ]);
    expect(kinds(r.journal)).toEqual(["stop:OBU_LEFT"]);
    expect(r.journal.records[0]?.extra).toMatchObject({ stage: "B4" });
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b3" }]);
    expect(r.outputs.some((o) => o.type === "display")).toBe(false);
    r.link.frame(ev.b3());
    await r.settle();
    r.link.frame(ev.b4());
    await r.settle();
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["stop:OBU_LEFT", "transaction:EXIT_DEBIT"]);
    expect(r.outputs.filter((o) => o.type === "barrier" && o.action === "open")).toHaveLength(1);
  });

  it("during its debit: the SUPERSEDED suspect is committed first, and its hold stops the new B2 (C2 UNSETTLED_DEBIT, no barrier)", async () => {
    const r = rig({ transaction: { unsettledHoldMs: 0 } }); // the journal's suspect holds, not the memory
    await open(r);
    await toDebit(r);
    r.link.frame(ev.b2());
    await r.settle();
    const [, again] = r.link.answers.filter((a) => a.to === "obu");
    expect(again).toMatchObject({ cmd: { kind: "stop", stopType: 1 }, recordsAtReply: 1 });
    expect(kinds(r.journal)).toEqual(["suspect:SUPERSEDED", "stop:UNSETTLED_DEBIT"]);
    expect(r.outputs.some((o) => o.type === "barrier" && o.action === "open")).toBe(false);
    expect(r.ctl.inFlight()).toEqual([]);
  });
});

describe("frames a transaction does not wait for get no reply (docs/protocol.md §5)", () => {
  it("a B3 in await-b4, a B3/B4/B8 in await-b5, a B3/B4 and an incomplete or uncertain B5 in await-b8: no reply, the deadline kept", async () => {
    const r = rig();
    await open(r);
    r.link.frame(ev.b2());
    await r.settle();
    r.link.frame(ev.b3());
    await r.settle();
    r.link.frame(ev.b3()); // await-b4
    await r.settle();
    expect(r.link.answersTo("vehicle")).toEqual([
      { kind: "continue", obuId: OBU_ID, divFactor: "bafec4cfbafec4cf" },
    ]);
    r.link.frame(ev.b4());
    await r.settle();
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b5" }]);
    const before = r.link.answers.length;
    r.link.frame(ev.b3());
    r.link.frame(ev.b4());
    r.link.frame({
      kind: "tac",
      info: { obuId: OBU_ID, errorCode: 0, result: "ok", tac: "0badcafe", mac: null, balance: 8575 },
    });
    await r.settle();
    expect(r.link.answers.length).toBe(before);
    r.link.frame(ev.b5(b5({ errorCode: 1, result: "uncertain", tac: null }))); // -> C8, await-b8
    await r.settle();
    expect(r.link.answers.length).toBe(before + 1);
    await r.advance(500); // half of b8TimeoutMs
    r.link.frame(ev.b3());
    r.link.frame(ev.b4());
    r.link.frame(ev.b5(b5({ tac: null }))); // a B5 00 missing its TAC
    r.link.frame(ev.b5(b5({ errorCode: 1, result: "uncertain", tac: null })));
    await r.settle();
    expect(r.link.answers.length).toBe(before + 1);
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b8" }]);
    expect(r.journal.records).toEqual([]);
    await r.advance(500); // b8TimeoutMs counted from the C8: the ignored frames did not restart it
    expect(kinds(r.journal)).toEqual(["suspect:B5_NO_DSRC"]);
  });
});

describe("the guards survive a restart (defect 4)", () => {
  it("a card with an unsettled suspect in the journal is not debited again after a restart", async () => {
    const j = new FakeJournal(() => Date.now() - 3_600_000); // recorded an hour ago
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first);
    await first.advance(1000); // no B5: a suspect
    expect(kinds(j)).toEqual(["suspect:B5_MISSING"]);
    // a new process on the same journal
    const r = rig({ journal: j });
    await open(r);
    await toDebit(r, b2({ obuId: "0000beef", contractSerial: "4301010000000777" }));
    expect(kinds(j)).toEqual(["suspect:B5_MISSING", "stop:UNSETTLED_DEBIT"]);
    expect(r.link.answersTo("card")).toEqual([
      { kind: "stop", obuId: "0000beef", stopType: 1, timeMs: Date.now() },
    ]);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    expect(r.ctl.guards.isHeld(OBU_SERIAL)).toBe(true);
  });

  it("holds run on the monotonic clock: a wall-clock step neither ends nor extends them", async () => {
    let wallStep = 0;
    const r = rig({ wallNow: () => Date.now() + wallStep, transaction: { unsettledHoldMs: 60_000 } });
    await open(r);
    await toDebit(r);
    await r.advance(1000);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    wallStep = 86_400_000; // the wall clock jumps a day ahead
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    await r.advance(60_001);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
  });

  it("a recent transaction in the journal: the same OBU re-read after a restart is ALREADY_TRADED", async () => {
    const j = new FakeJournal(() => Date.now() - 60_000);
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first);
    first.link.frame(ev.b5());
    await first.settle();
    const r = rig({ journal: j });
    await open(r);
    r.link.frame(ev.b2());
    await r.settle();
    expect(r.ctl.counters.alreadyTraded).toBe(1);
    expect(kinds(j)).toEqual(["transaction:EXIT_DEBIT"]);
  });
});

describe("a hold lasts until its suspect is settled (the journal is asked past the guards' memory)", () => {
  const OTHER = b2({ obuId: "0000beef", contractSerial: "4301010000000777" });

  it("past unsettledHoldMs the card of an open suspect is still stopped UNSETTLED_DEBIT", async () => {
    const r = rig({ transaction: { unsettledHoldMs: 60_000 } });
    await open(r);
    await toDebit(r);
    await r.advance(1000); // no B5: a suspect
    await r.advance(400_000); // past the hold and the recent-trade window
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false); // the memory forgot it
    await toDebit(r, OTHER);
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING", "stop:UNSETTLED_DEBIT"]);
    expect(r.link.answersTo("card").at(-1)).toEqual({
      kind: "stop",
      obuId: "0000beef",
      stopType: 1,
      timeMs: Date.now(),
    });
  });

  it("after a restart, a suspect older than unsettledHoldMs still holds its card and its OBU", async () => {
    const j = new FakeJournal(() => Date.now() - 2 * 86_400_000); // recorded two days ago
    const first = rig({ journal: j });
    await open(first);
    await toSuspect(first);
    const r = rig({ journal: j });
    await open(r);
    await toDebit(r, OTHER); // another OBU with the suspect's card: stopped at B4
    await toDebit(r, b2({ obuId: "0000cafe" }), b4({ card: { cardSerial: "0000000000009999" } })); // the OBU: at B2
    expect(kinds(j)).toEqual(["suspect:B5_MISSING", "stop:UNSETTLED_DEBIT", "stop:UNSETTLED_DEBIT"]);
    expect(j.records.slice(1).map((x) => x.obuId)).toEqual(["0000beef", "0000cafe"]);
  });

  it("a card whose debit waits for its B5 on another OBU is not debited again through a second OBU", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b5" }]);
    await toDebit(r, OTHER);
    expect(kinds(r.journal)).toEqual(["stop:UNSETTLED_DEBIT"]);
    expect(r.link.answersTo("card")).toEqual([
      expect.objectContaining({ kind: "debit", obuId: OBU_ID }),
      { kind: "stop", obuId: "0000beef", stopType: 1, timeMs: Date.now() },
    ]);
  });

  it("a settlement of one suspect of a card does not release the card while another suspect of it is open", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    await r.advance(1000); // no B5: a suspect
    // a second open suspect of the same card (say, a booth debit left unconfirmed)
    const other = r.journal.commit({
      ...r.journal.records[0]!,
      obuId: "0000cafe",
      outcome: "BOOTH_DEBIT_UNCONFIRMED",
    });
    r.link.frame(ev.b5()); // the first suspect's late B5 settles it and releases the card in memory
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT_SETTLED", "suspect:BOOTH_DEBIT_UNCONFIRMED"]);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    await r.advance(400_000); // past the recent-trade window
    await toDebit(r, OTHER);
    expect(kinds(r.journal).slice(2)).toEqual(["stop:UNSETTLED_DEBIT"]);
    expect(other.kind).toBe("suspect");
  });

  it("a journal that cannot say whether the card has an open suspect holds it", async () => {
    const r = rig();
    await open(r);
    r.journal.openSuspectOf = () => {
      throw new Error("SQLITE_IOERR");
    };
    await toDebit(r);
    expect(kinds(r.journal)).toEqual(["stop:UNSETTLED_DEBIT"]);
  });
});

describe("an ORPHAN_B5 across a restart", () => {
  // the restart (10 s) is longer than a short unsettledHoldMs, well within repeatedB5WindowMs (300 s): the
  // memory of recorded B5s is seeded over repeatedB5WindowMs, not over the unsettled hold
  it.each([86_400_000, 5_000, 0])(
    "the RSU repeating the B5 of a recorded ORPHAN_B5 to a restarted lane: acknowledged, not recorded again (unsettledHoldMs %i)",
    async (unsettledHoldMs) => {
      const j = new FakeJournal(() => Date.now() - 10_000);
      const first = rig({ journal: j, transaction: { unsettledHoldMs } });
      await open(first);
      first.link.frame(ev.b5(b5({ obuId: "0000f00d" })));
      await first.settle();
      expect(kinds(j)).toEqual(["suspect:ORPHAN_B5"]);
      const r = rig({ journal: j, transaction: { unsettledHoldMs } });
      await open(r);
      r.link.frame(ev.b5(b5({ obuId: "0000f00d" })));
      await r.settle();
      expect(kinds(j)).toEqual(["suspect:ORPHAN_B5"]);
      expect(r.ctl.counters.repeatedB5).toBe(1);
      expect(r.link.answersTo("trade")).toEqual(["ACK"]);
    },
  );
});

describe("a debit in flight through a link blip or a stop (defect 6)", () => {
  it("link blip: the debit keeps waiting, C0 is held, the repeated B5 makes one paid record", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    r.link.down();
    await r.settle();
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "rsu-down" });
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b5" }]);
    r.link.up();
    await r.settle();
    expect(r.link.inits()).toBe(1); // no C0 while the RSU may still repeat the B5
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(r.journal.records[0]).toMatchObject({ tac: "a1b2c3d4", amount: 1425 });
    expect(r.link.inits()).toBe(2); // now the RSU is initialised again
  });

  it("the B5 after the debit became a suspect settles that record: one debit, one record, hold released", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    r.link.down();
    await r.settle();
    await r.advance(1000); // b5TimeoutMs passes while the link is down
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING"]);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    r.link.up();
    await r.settle();
    // the settlement is durable before its C1 goes out: a kill in between leaves the RSU repeating the B5
    let repliesAtSettle: number | undefined;
    r.journal.beforeSettle = () => {
      repliesAtSettle = r.link.answersTo("trade").length;
    };
    r.link.frame(ev.b5());
    await r.settle();
    expect(repliesAtSettle).toBe(0);
    expect(r.journal.records).toHaveLength(1);
    expect(r.journal.records[0]).toMatchObject({
      kind: "transaction",
      outcome: "EXIT_DEBIT_SETTLED",
      amount: 1425,
      tac: "a1b2c3d4",
      iccPaySerial: "0011",
      revision: 2,
    });
    expect(r.journal.records[0]!.settled).toMatchObject({ settledBy: "b5" });
    expect(r.ctl.counters.settled).toBe(1);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    expect(r.link.answersTo("trade")).toEqual([
      { kind: "continue", obuId: OBU_ID, divFactor: "bafec4cfbafec4cf" },
    ]);
    expect(r.outputs.some((o) => o.type === "barrier" && o.action === "open")).toBe(false);
  });

  it("a late B5 for a suspect the booth settles while its C1 is on the way: nothing changes, the lane is not closed for the journal", async () => {
    const r = rig();
    await open(r);
    await toSuspect(r);
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING"]);
    const statusBefore = { ...r.ctl.status };
    // the booth settles the suspect between the lane's lookup and its settle
    r.journal.beforeSettle = (seq) => {
      r.journal.beforeSettle = undefined;
      r.journal.settle(seq, {
        kind: "transaction",
        outcome: "EXIT_DEBIT_SETTLED",
        settledBy: "booth-card",
        fields: { tac: "0a0b0c0d", balanceAfter: 4_000 },
      });
    };
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT_SETTLED"]);
    expect(r.journal.records[0]).toMatchObject({ revision: 2, tac: "0a0b0c0d" });
    expect(r.journal.records[0]!.settled).toMatchObject({ settledBy: "booth-card" });
    // not closed for the journal: the journal is healthy, nothing failed
    expect(r.ctl.status).toEqual(statusBefore);
    expect(r.ctl.counters.journalFailures).toBe(0);
    expect(r.link.answersTo("trade")).toEqual([
      { kind: "continue", obuId: OBU_ID, divFactor: "bafec4cfbafec4cf" },
    ]);
    expect(r.outputs.some((o) => o.type === "barrier" && o.action === "open")).toBe(false);
  });

  // before, every refused settlement was taken for "it already has its one record": the B5 was answered C1
  // and recorded nowhere, though the record said no money moved
  it("a late B5 for a suspect settled not debited while it was on its way: an ORPHAN_B5 with its TAC and an alarm", async () => {
    const r = rig();
    await open(r);
    await toSuspect(r);
    const notDebited = (seq: number): void => {
      r.journal.beforeSettle = undefined;
      r.journal.settle(seq, {
        kind: "stop",
        outcome: "SUSPECT_NOT_DEBITED",
        settledBy: "operator",
        fields: { amount: 0 },
      });
    };
    r.journal.beforeSettle = notDebited;
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["stop:SUSPECT_NOT_DEBITED", "suspect:ORPHAN_B5"]);
    expect(r.journal.records[1]).toMatchObject({
      tac: "a1b2c3d4",
      iccPaySerial: "0011",
      extra: { amountUnknown: true, provesSuspect: 1, note: expect.stringContaining("SUSPECT_NOT_DEBITED") },
    });
    expect(r.link.answers.filter((a) => a.to === "trade")).toEqual([
      expect.objectContaining({ cmd: "ACK", recordsAtReply: 2 }),
    ]);
    const alarms = r.outputs.flatMap((o) => (o.type === "alarm" ? [o] : []));
    expect(alarms.at(-1)).toMatchObject({ code: "ORPHAN_B5", message: expect.stringContaining("#1") });
  });

  it("a late B8 for a suspect settled not debited while it was checked: an ORPHAN_B5 with the B8's TAC and the suspect's serials", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    r.link.frame(ev.b5(b5({ errorCode: 1, result: "uncertain", tac: null }))); // C8 out
    await r.settle();
    await r.advance(1000); // b8TimeoutMs: a B5_NO_DSRC suspect with the B5's serials
    expect(kinds(r.journal)).toEqual(["suspect:B5_NO_DSRC"]);
    r.journal.beforeSettle = (seq) => {
      r.journal.beforeSettle = undefined;
      r.journal.settle(seq, {
        kind: "stop",
        outcome: "SUSPECT_NOT_DEBITED",
        settledBy: "operator",
        fields: { amount: 0 },
      });
    };
    r.link.frame(ev.b8(), { raw: "ffff18b8" });
    await r.settle();
    expect(kinds(r.journal)).toEqual(["stop:SUSPECT_NOT_DEBITED", "suspect:ORPHAN_B5"]);
    expect(r.journal.records[1]).toMatchObject({
      tac: "0badcafe",
      balanceAfter: 8575,
      iccPaySerial: "0011",
      psamTransSerial: "00000063",
      extra: { provesSuspect: 1, rawB8: "ffff18b8" },
    });
    expect(r.outputs.some((o) => o.type === "alarm" && o.code === "ORPHAN_B5")).toBe(true);
  });

  // with recentTradeWindowMs 0 too: the repeat has its own window (repeatedB5WindowMs); before, with 0 it
  // was not matched to the debit and became a second record (an ORPHAN_B5)
  it.each([
    ["the default recent-trade window", {}],
    ["recentTradeWindowMs 0", { recentTradeWindowMs: 0 }],
  ] as const)(
    "a B5 repeating a debit already recorded (after a restart a second later, %s) is answered C1 and not recorded again",
    async (_, transaction) => {
      const j = new FakeJournal();
      const first = rig({ journal: j, transaction });
      await open(first);
      await toDebit(first);
      first.link.frame(ev.b5());
      await first.settle();
      expect(kinds(j)).toEqual(["transaction:EXIT_DEBIT"]);
      // the lane restarts a second later; the RSU (its C1 lost) repeats the B5 to the new process
      await vi.advanceTimersByTimeAsync(1000);
      const r = rig({ journal: j, transaction });
      await open(r);
      r.link.frame(ev.b5());
      await r.settle();
      expect(kinds(j)).toEqual(["transaction:EXIT_DEBIT"]);
      expect(r.ctl.counters.repeatedB5).toBe(1);
      expect(r.link.answersTo("trade")).toEqual([
        { kind: "continue", obuId: OBU_ID, divFactor: "bafec4cfbafec4cf" },
      ]);
    },
  );

  /** The warning a frame for an OBU whose transaction has sent no debit leaves: its level and data. */
  const noDebitYet = (lines: LogLine[]) =>
    lines.filter((l) => l.msg.includes("has sent no debit")).map((l) => [l.level, l.obj]);

  // before, the warning named only the OBU, the phase and the frame's type: the B5 (TAC, serials, balance)
  // was left in the link's debug wire log alone
  it("a B5 or B8 that proves nothing unrecorded, for an OBU whose transaction has sent no debit yet (await-b4): logged with its fields and bytes, not answered, and the transaction goes on", async () => {
    const lines: LogLine[] = [];
    const r = rig({ logger: recordingLogger(lines) });
    await open(r);
    r.link.frame(ev.b2());
    await r.settle();
    r.link.frame(ev.b3());
    await r.settle();
    const failed = b5({ errorCode: 0x22, result: "failed" });
    r.link.frame(ev.b5(failed), { raw: "ffff18b522" });
    await r.settle();
    r.link.frame(ev.b8(), { raw: "ffff18b800" });
    await r.settle();
    expect(noDebitYet(lines)).toEqual([
      [
        "warn",
        { obuId: OBU_ID, phase: "await-b4", frame: "B5", place: "no-money", b5: failed, rawB5: "ffff18b522" },
      ],
      ["warn", { obuId: OBU_ID, phase: "await-b4", frame: "B8", b8: b8(), rawB8: "ffff18b800" }],
    ]);
    expect(kinds(r.journal)).toEqual([]);
    expect(r.link.answersTo("trade")).toEqual([]);
    expect(r.link.answersTo("tac")).toEqual([]);
    expect(r.outputs.some((o) => o.type === "alarm")).toBe(false);
    r.link.frame(ev.b4());
    await r.settle();
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    // the ignored B5's arrival is not among the record's stage times (only the debit's own B5)
    expect(Object.keys(r.journal.records[0]!.stageTimes).filter((k) => k.startsWith("b5In"))).toEqual([
      "b5In",
    ]);
  });

  it("the B5 of a debit already recorded, repeated while the OBU's next transaction has sent no debit: logged with its fields, not answered, not recorded again", async () => {
    const lines: LogLine[] = [];
    const r = rig({ logger: recordingLogger(lines), transaction: { recentTradeWindowMs: 0 } });
    await open(r);
    await toDebit(r);
    r.link.frame(ev.b5(), { raw: "ffff18b500" });
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    await vi.advanceTimersByTimeAsync(10);
    await toAwaitB4(r);
    r.link.frame(ev.b5(), { raw: "ffff18b500" });
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(r.ctl.counters.repeatedB5).toBe(1);
    expect(noDebitYet(lines)).toEqual([
      [
        "warn",
        {
          obuId: OBU_ID,
          phase: "await-b4",
          frame: "B5",
          place: "recorded",
          seq: 1,
          b5: b5(),
          rawB5: "ffff18b500",
        },
      ],
    ]);
    // the first B5's C1 only
    expect(r.link.answersTo("trade")).toEqual([
      { kind: "continue", obuId: OBU_ID, divFactor: "bafec4cfbafec4cf" },
    ]);
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b4" }]);
  });

  // review (session 36): the B2 check stops a transaction beside an open suspect of the OBU, not beside one
  // settled as not debited; the old debit's B5 arriving then was ignored (no record, no alarm), though with
  // no machine the same B5 is an ORPHAN_B5 (late-answers.ts)
  it("the stale B5 of a debit settled by hand as not debited, while the OBU's next transaction has sent no debit: one ORPHAN_B5 with its alarm, no reply, and that transaction debits normally", async () => {
    const r = rig();
    await open(r);
    await toSuspect(r);
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING"]);
    const settled = await r.ctl.settleSuspect(
      { seq: 1, verdict: "not-debited", reason: "no debit at the bank" },
      { name: "zhang", uid: 1001 },
    );
    expect(settled.ok).toBe(true);
    await vi.advanceTimersByTimeAsync(5000);
    r.link.frame(ev.b0()); // the RSU answers the C0 sent once the link came back: the lane opens
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
    // the OBU read again: its transaction waits for the B4
    await toAwaitB4(r);
    // the old debit's complete B5 (its TAC proves the money moved)
    r.link.frame(ev.b5(), { raw: "ffff18b500" });
    await r.settle();
    expect(kinds(r.journal)).toEqual(["stop:SUSPECT_NOT_DEBITED", "suspect:ORPHAN_B5"]);
    expect(r.journal.records[1]).toMatchObject({
      obuId: OBU_ID,
      amount: 0,
      tac: "a1b2c3d4",
      iccPaySerial: "0011",
      psamNo: "010203040506",
      psamTransSerial: "00000063",
      balanceAfter: 8575,
      rawB5: "ffff18b500",
      extra: { amountUnknown: true, beforeDebit: "await-b4" },
    });
    const orphanAlarms = r.outputs.filter((o) => o.type === "alarm" && o.code === "ORPHAN_B5");
    expect(orphanAlarms).toEqual([
      expect.objectContaining({ message: expect.stringContaining("has sent no debit (await-b4)") }),
    ]);
    // not answered: the RSU talks to the transaction in flight, which is left as it was
    expect(r.link.answersTo("trade")).toEqual([]);
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b4" }]);
    // that transaction's own debit, with its own B5
    r.link.frame(ev.b4());
    await r.settle();
    const c6 = r.link.answersTo("card").at(-1) as Extract<RsuCommand, { kind: "debit" }>;
    expect(c6.kind).toBe("debit");
    const own = b5({
      tac: "11223344",
      iccPaySerial: 18,
      psamTransSerial: 100,
      transTime: localStamp(c6.purchaseTimeMs, 480),
    });
    r.link.frame(ev.b5(own));
    await r.settle();
    expect(kinds(r.journal)).toEqual([
      "stop:SUSPECT_NOT_DEBITED",
      "suspect:ORPHAN_B5",
      "transaction:EXIT_DEBIT",
    ]);
    expect(r.journal.records[2]).toMatchObject({ tac: "11223344", iccPaySerial: "0012", amount: 1425 });
    expect(r.link.answersTo("trade")).toEqual([
      { kind: "continue", obuId: OBU_ID, divFactor: "bafec4cfbafec4cf" },
    ]);
    expect(r.outputs.filter((o) => o.type === "barrier" && o.action === "open")).toHaveLength(1);
  });

  it("a B5 proving an open suspect the B2 check did not meet (noted as shown on the card), while the OBU's transaction has sent no debit: the suspect settled in place, no reply", async () => {
    const r = rig({ transaction: { unsettledHoldMs: 0 } });
    await open(r);
    await toSuspect(r);
    r.link.frame(ev.b0());
    await r.settle();
    // a suspect whose debit the card showed holds nothing over DSRC (docs/journal.md, suspect_evidence):
    // the journal leaves it out of openSuspectOf, as this fake does now
    r.journal.openSuspectOf = () => null;
    await vi.advanceTimersByTimeAsync(10); // past unsettledHoldMs (0): the guards' memory holds nothing
    await toAwaitB4(r);
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT_SETTLED"]);
    expect(r.journal.records[0]).toMatchObject({ tac: "a1b2c3d4", iccPaySerial: "0011", revision: 2 });
    expect(r.journal.records[0]!.settled).toMatchObject({ settledBy: "b5" });
    expect(r.link.answersTo("trade")).toEqual([]);
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b4" }]);
    expect(r.outputs.some((o) => o.type === "barrier" && o.action === "open")).toBe(false);
  });

  it("a suspect settled by hand as debited: the B5 the RSU repeats afterwards is recognised, not a second record", async () => {
    const r = rig();
    await open(r);
    await toSuspect(r);
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING"]);
    const proof = {
      tac: "a1b2c3d4",
      iccPaySerial: "0011",
      psamNo: "010203040506",
      psamTransSerial: "00000063",
      transTime: "20250716103000",
    };
    const settled = await r.ctl.settleSuspect(
      { seq: 1, verdict: "debited", reason: "bank ticket 4711", proof },
      { name: "zhang", uid: 1001 },
    );
    expect(settled.ok).toBe(true);
    await vi.advanceTimersByTimeAsync(5000);
    r.link.frame(ev.b5());
    await r.settle();
    // before, the guards did not know the settled debit: the repeat became an ORPHAN_B5 suspect
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT_SETTLED"]);
    expect(r.ctl.counters.repeatedB5).toBe(1);
  });

  it("with recentTradeWindowMs 0 a repeated B5 in the same process is recognised too", async () => {
    const r = rig({ transaction: { recentTradeWindowMs: 0 } });
    await open(r);
    await toDebit(r);
    r.link.frame(ev.b5());
    await r.settle();
    await vi.advanceTimersByTimeAsync(120); // the RSU repeats its B5 120 ms later (the C1 lost on the line)
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(r.ctl.counters.repeatedB5).toBe(1);
  });

  // before, on an entry lane (amount 0: the balance after is the balance before) the previous debit's B5,
  // sent again within the same second, proved the new debit with the old TAC
  it("with recentTradeWindowMs 0, the previous debit's B5 sent again while the OBU's next debit waits is not its answer", async () => {
    const r = rig({
      lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
      transaction: { recentTradeWindowMs: 0 },
    });
    await open(r);
    const entry = b4({ entry: { status: 0x04 } }); // the card's last record: an exit
    await toDebit(r, b2(), entry);
    const first = b5({ balanceAfter: 10_000 });
    r.link.frame(ev.b5(first));
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:ENTRY_WRITE"]);
    // the same OBU again within the second, its card unchanged; the RSU repeats the first B5 while the C6 waits
    await vi.advanceTimersByTimeAsync(10);
    await toDebit(r, b2(), entry);
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b5" }]);
    r.link.frame(ev.b5(first));
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:ENTRY_WRITE"]);
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b5" }]);
    expect(r.ctl.counters.repeatedB5).toBe(1);
    expect(r.link.answersTo("trade")).toHaveLength(1); // the first B5's C1: the repeat gets no reply
    // the new debit's own B5 is its answer
    r.link.frame(
      ev.b5(b5({ balanceAfter: 10_000, tac: "11223344", iccPaySerial: 18, psamTransSerial: 100 })),
    );
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:ENTRY_WRITE", "transaction:ENTRY_WRITE"]);
    expect(r.journal.records[1]).toMatchObject({ tac: "11223344", iccPaySerial: "0012" });
  });

  it("a B5 that may have debited for an OBU this lane has no transaction of: an ORPHAN_B5 suspect, acked, alarm", async () => {
    const r = rig();
    await open(r);
    r.link.frame(ev.b5(b5({ obuId: "0000f00d" })));
    await r.settle();
    expect(kinds(r.journal)).toEqual(["suspect:ORPHAN_B5"]);
    expect(r.journal.records[0]).toMatchObject({
      obuId: "0000f00d",
      amount: 0,
      tac: "a1b2c3d4",
      iccPaySerial: "0011",
      cardId: null,
      extra: {
        amountUnknown: true,
        note: expect.stringContaining("without a transaction or an open suspect"),
      },
    });
    expect(r.link.answersTo("trade")).toEqual(["ACK"]);
    // recorded before the RSU heard its B5 arrived
    expect(r.link.answers.find((a) => a.to === "trade")).toMatchObject({ cmd: "ACK", recordsAtReply: 1 });
    expect(r.outputs.filter((o) => o.type === "alarm").map((o) => (o as { code: string }).code)).toEqual([
      "ORPHAN_B5",
    ]);
    expect(r.outputs.some((o) => o.type === "barrier" && o.action === "open")).toBe(false);
    // the RSU repeats that B5 (its ack was lost): acknowledged again, neither recorded again nor settled
    r.link.frame(ev.b5(b5({ obuId: "0000f00d" })));
    await r.settle();
    expect(kinds(r.journal)).toEqual(["suspect:ORPHAN_B5"]);
    expect(r.journal.records[0]).toMatchObject({ revision: 1, amount: 0 });
    expect(r.link.answersTo("trade")).toEqual(["ACK", "ACK"]);
    expect(r.ctl.counters.repeatedB5).toBe(1);
    // a failed B5 moved no money: acked, nothing recorded
    r.link.frame(ev.b5(b5({ obuId: "0000f00e", errorCode: 0x22, result: "failed" })));
    await r.settle();
    expect(kinds(r.journal)).toEqual(["suspect:ORPHAN_B5"]);
  });

  it("with an open suspect: an incomplete late B5 is only logged; a complete one that does not match it is an ORPHAN_B5 of its own", async () => {
    const r = rig();
    await open(r);
    await toSuspect(r);
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING"]);
    // evidence, not proof: a B5 00 without its TAC
    r.link.frame(ev.b5(b5({ tac: null })));
    await r.settle();
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING"]);
    // complete, but another purchase: its balance after is not the suspect's balance before minus the fee
    r.link.frame(ev.b5(b5({ balanceAfter: 1 })));
    await r.settle();
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING", "suspect:ORPHAN_B5"]);
    expect(r.journal.records[0]).toMatchObject({ revision: 1, kind: "suspect" });
    expect(r.journal.records[1]!.extra).toMatchObject({
      amountUnknown: true,
      note: expect.stringContaining(`open suspect #${r.journal.records[0]!.seq}`),
    });
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    expect(r.link.answersTo("trade")).toEqual(["ACK", "ACK"]);
    const alarms = r.outputs.flatMap((o) => (o.type === "alarm" ? [(o as { message: string }).message] : []));
    expect(alarms.at(-1)).toMatch(/does not match its open suspect/);
    // the B5 that proves the first suspect settles it, not the newer ORPHAN_B5 (card and amount unknown)
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT_SETTLED", "suspect:ORPHAN_B5"]);
    expect(r.journal.records[1]).toMatchObject({ revision: 1, kind: "suspect", amount: 0 });
  });

  it("the B5 of a B5_MISMATCH suspect sent again after its machine ended (a link blip): acknowledged, counted, not a second record", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    // complete, but its balance after is not balance before - amount: C8, no B8, a B5_MISMATCH suspect
    const bad = b5({ balanceAfter: 8574 });
    r.link.frame(ev.b5(bad), { raw: "ffff18aa" });
    await r.settle();
    await r.advance(1000); // b8TimeoutMs
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISMATCH"]);
    // the RSU sends that same B5 again as a new frame (another RSCTL, so other bytes): before, an ORPHAN_B5
    // with its TAC beside the suspect
    r.link.frame(ev.b5(bad), { raw: "ffff28bb" });
    await r.settle();
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISMATCH"]);
    expect(r.journal.records[0]).toMatchObject({ revision: 1, tac: null });
    expect(r.ctl.counters.repeatedB5).toBe(1);
    expect(r.link.answersTo("trade")).toEqual([{ kind: "fetch-tac", obuId: OBU_ID, epSerial: 17 }, "ACK"]);
    expect(r.outputs.some((o) => o.type === "alarm" && o.code === "ORPHAN_B5")).toBe(false);
    // a B5 of the same serials with another TAC is not that B5: money may have moved, an ORPHAN_B5
    r.link.frame(ev.b5({ ...bad, tac: "0badcafe" }), { raw: "ffff38cc" });
    await r.settle();
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISMATCH", "suspect:ORPHAN_B5"]);
  });

  it("the B5 of a CRASH_RECOVERED suspect that kept its serial, sent again after the listen window: not a second record", async () => {
    const j = new FakeJournal();
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first);
    const bad = b5({ balanceAfter: 8574 });
    first.link.frame(ev.b5(bad)); // C8 out, killed while it waits for the B8
    await first.settle();
    const r = rig({ journal: j });
    await r.ctl.start();
    r.link.up();
    await r.settle();
    await r.advance(800); // recoveryListenMs: nothing came
    expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED"]);
    expect(j.records[0]).toMatchObject({ iccPaySerial: "0011", psamTransSerial: "00000063" });
    r.link.frame(ev.b5(bad));
    await r.settle();
    expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED"]);
    expect(r.ctl.counters.repeatedB5).toBe(1);
    expect(r.link.answersTo("trade")).toEqual(["ACK"]);
  });

  it("SIGTERM: no new OBU, the B5 of the debit in flight is recorded as paid, then antenna off", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    const stopped = r.ctl.stop();
    await r.settle();
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "stopping" });
    r.link.frame(ev.b2(b2({ obuId: "0000beef" })));
    await r.settle();
    expect(r.link.answersTo("obu").at(-1)).toEqual({
      kind: "stop",
      obuId: "0000beef",
      stopType: 1,
      timeMs: NOW,
    });
    expect(r.link.antenna()).toEqual([true]);
    r.link.frame(ev.b5());
    await stopped;
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(r.outputs.filter((o) => o.type === "barrier" && o.action === "open")).toHaveLength(1);
    expect(r.link.antenna()).toEqual([true, false]);
    expect(r.link.stopped).toBe(true);
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "stopped" });
  });

  it("SIGTERM and no answer within drainTimeoutMs: one LANE_STOPPED suspect, then the link stops", async () => {
    const r = rig({ transaction: { drainTimeoutMs: 500 } });
    await open(r);
    await toDebit(r);
    const stopped = r.ctl.stop();
    await r.advance(500);
    await stopped;
    expect(kinds(r.journal)).toEqual(["suspect:LANE_STOPPED"]);
    expect(r.journal.intents.size).toBe(0);
    expect(r.link.stopped).toBe(true);
  });
});

describe("a TAC of all zeros proves nothing (decided, docs/protocol.md §6)", () => {
  it("a late B5 00 or B8 00 whose TAC is all zeros does not settle the open suspect; a B5 with one after them does", async () => {
    const r = rig();
    await open(r);
    await toSuspect(r);
    r.link.frame(ev.b5(b5({ tac: "00000000" })));
    await r.settle();
    r.link.frame(ev.b8(b8({ tac: "00000000" })));
    await r.settle();
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING"]);
    expect(r.journal.records[0]).toMatchObject({ revision: 1, tac: null });
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    expect(r.link.answersTo("trade")).toEqual(["ACK"]);
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT_SETTLED"]);
  });
});

describe("a journal read that fails on the late path (review finding 2)", () => {
  const readFails = (): never => {
    throw new Error("SQLITE_CORRUPT: database disk image is malformed");
  };

  // before, the exception went to the queue's "lane loop error" (its message only): no reply, no record,
  // the B5 nowhere in the log
  it.each([
    ["the record of the OBU's recent debit (journal.get)", "get"],
    ["the OBU's open suspect (findOpenSuspect)", "findOpenSuspect"],
  ] as const)(
    "a late B5 whose read of %s throws: an ORPHAN_B5 recorded before the acknowledgement, alarm",
    async (_, read) => {
      const r = rig();
      await open(r);
      await toDebit(r);
      r.link.frame(ev.b5());
      await r.settle();
      expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
      r.journal[read] = readFails;
      r.link.frame(ev.b5(b5({ tac: "deadbeef" })));
      await r.settle();
      expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT", "suspect:ORPHAN_B5"]);
      expect(r.journal.records[1]).toMatchObject({
        tac: "deadbeef",
        amount: 0,
        rawB5: "ffff",
        extra: { amountUnknown: true, note: expect.stringContaining("the journal read failed") },
      });
      expect(r.link.answers.filter((a) => a.to === "trade").at(-1)).toMatchObject({
        cmd: "ACK",
        recordsAtReply: 2,
      });
      const alarms = r.outputs.flatMap((o) => (o.type === "alarm" ? [o] : []));
      expect(alarms.at(-1)).toMatchObject({
        code: "ORPHAN_B5",
        message: expect.stringContaining("SQLITE_CORRUPT"),
      });
    },
  );

  it("the read fails and the ORPHAN_B5 cannot be committed: the B5 decoded and raw in the error log, no answer, lane closed", async () => {
    const lines: LogLine[] = [];
    const r = rig({ logger: recordingLogger(lines) });
    await open(r);
    r.journal.findOpenSuspect = readFails;
    r.journal.failCommits = true;
    const late = b5({ obuId: "0000f00d" });
    r.link.frame(ev.b5(late), { raw: "ffff18c0ffee" });
    await r.settle();
    expect(r.journal.records).toEqual([]);
    expect(r.link.answersTo("trade")).toEqual([]); // the RSU repeats it to the restarted lane
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
    expect(lines.filter((l) => l.level === "error" && l.msg.includes("LATE B5 NOT RECORDED"))).toEqual([
      expect.objectContaining({ obj: expect.objectContaining({ b5: late, rawB5: "ffff18c0ffee" }) }),
    ]);
  });

  it("a late B8 whose suspect cannot be read: the B8 in the error log and an alarm, its suspect left open", async () => {
    const lines: LogLine[] = [];
    const r = rig({ logger: recordingLogger(lines) });
    await open(r);
    await toSuspect(r);
    r.journal.findOpenSuspect = readFails;
    r.link.frame(ev.b8(), { raw: "ffff18b8" });
    await r.settle();
    expect(kinds(r.journal)).toEqual(["suspect:B5_MISSING"]);
    expect(r.link.answersTo("tac")).toEqual(["ACK"]);
    expect(lines.filter((l) => l.level === "error" && l.msg.includes("LATE B8 NOT PLACED"))).toEqual([
      expect.objectContaining({ obj: expect.objectContaining({ b8: b8(), rawB8: "ffff18b8" }) }),
    ]);
    expect(r.outputs.some((o) => o.type === "alarm" && o.code === "LATE_B8_UNPLACED")).toBe(true);
    expect(r.ctl.counters.journalFailures).toBe(0);
  });
});

describe("one C2 form on every path (review finding, session 32)", () => {
  it("a national RSU gets C2 with its UnixTime whatever stopped the OBU: closed lane, StopType 2 resend, late B4, a stop with a record", async () => {
    const r = rig();
    await r.ctl.start();
    r.link.up();
    await r.settle();
    r.link.frame(ev.b2()); // the lane is not open yet (no B0): C2
    await r.settle();
    r.link.frame(ev.b0());
    await r.settle();
    r.link.frame(ev.b4()); // a B4 of an OBU without a transaction: C2
    await r.settle();
    r.list.listed.add(CARD_ID);
    r.link.frame(ev.b2());
    await r.settle();
    r.link.frame(ev.b3());
    await r.settle();
    r.link.frame(ev.b4({ ...b4(), issuance: null })); // incomplete: C2 StopType 2
    await r.settle();
    r.link.frame(ev.b4()); // listed: a stop with its record, C2 StopType 1
    await r.settle();
    expect(kinds(r.journal)).toEqual(["stop:CARD_ON_STATUS_LIST"]);
    const stops = r.link.answers.flatMap((a) => (a.cmd !== "ACK" && a.cmd.kind === "stop" ? [a.cmd] : []));
    expect(stops.map((c) => c.stopType)).toEqual([1, 1, 2, 1]);
    const national = createNationalCodec(DEFAULT_NATIONAL_DIALECT);
    const c2 = stops.map((c) => encodeData(national.encode(c), DEFAULT_NATIONAL_DIALECT));
    // before: the first three went without UnixTime (6 bytes with the type byte), the last with it (10)
    expect(c2.map((b) => b.length)).toEqual([10, 10, 10, 10]);
    expect(c2.map((b) => b.readUInt32BE(6))).toEqual(stops.map(() => Math.floor(NOW / 1000)));
  });
});

describe("crash recovery: debit intents a killed process left", () => {
  it("an intent keyed in upper case (a journal from before version 2) is matched by the B5's lower-case OBU id", async () => {
    const j = new FakeJournal();
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first); // killed here: the intent stays
    const [intent] = [...j.intents.values()];
    j.intents.set(intent!.id, { ...intent!, key: intent!.key.toUpperCase() });
    const r = rig({ journal: j });
    await r.ctl.start();
    r.link.up();
    await r.settle();
    r.link.frame(ev.b5()); // the RSU repeats the B5: OBUID as the frame carries it, lower case
    await r.settle();
    expect(kinds(j)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(j.records[0]).toMatchObject({ obuId: OBU_ID, tac: "a1b2c3d4" });
    expect(j.intents.size).toBe(0);
  });

  it("killed between a good B5's C1 and its commit: the restart records the transaction from the B5 in the intent", async () => {
    const j = new FakeJournal();
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first);
    j.failCommits = true; // the process dies here: the C1 is out, the commit never happens
    first.link.frame(ev.b5());
    await first.settle();
    expect(first.link.answersTo("trade")).toEqual([
      { kind: "continue", obuId: OBU_ID, divFactor: "bafec4cfbafec4cf" },
    ]);
    expect(j.records).toEqual([]);
    j.failCommits = false;
    j.health$.next({ healthy: true }); // the restarted process opens a writable journal
    const r = rig({ journal: j });
    await r.ctl.start();
    await r.settle();
    // recorded at start, before the link is even up: the RSU was answered and will not repeat its B5
    expect(kinds(j)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(j.records[0]).toMatchObject({
      tac: "a1b2c3d4",
      iccPaySerial: "0011",
      amount: 1425,
      extra: { recoveredFrom: "intent" },
    });
    expect(j.intents.size).toBe(0);
    expect(r.outputs.some((o) => o.type === "barrier" && o.action === "open")).toBe(false);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    expect(r.outputs.some((o) => o.type === "alarm" && o.code === "CRASH_RECOVERY")).toBe(true);
    r.link.up();
    await r.settle();
    expect(r.link.inits()).toBe(1); // nothing to listen for: C0 at once
  });

  // session 34 review: the record a restart wrote from the intent named the tariff the new process loaded, with
  // amounts another table computed
  describe("restarted with another tariff (version t-2) than the one that priced the debit (t-1)", () => {
    const newer = Tariff.parse({
      station: "4301-0102",
      version: "t-2",
      routes: [{ from: "4301-0101", fees: { "1": 1600 } }],
    });

    it("the paid record replayed from the intent's answer names t-1", async () => {
      const j = new FakeJournal();
      const first = rig({ journal: j });
      await open(first);
      await toDebit(first);
      j.failCommits = true; // killed after the C1, before the commit
      first.link.frame(ev.b5());
      await first.settle();
      j.failCommits = false;
      j.health$.next({ healthy: true });
      const r = rig({ journal: j, tariff: newer });
      await r.ctl.start();
      await r.settle();
      expect(kinds(j)).toEqual(["transaction:EXIT_DEBIT"]);
      expect(j.records[0]).toMatchObject({ amount: 1425, amountDue: 1500, tariffVersion: "t-1" });
    });

    it("the CRASH_RECOVERED suspect (no answer in the listen window) names t-1", async () => {
      const j = new FakeJournal();
      const first = rig({ journal: j });
      await open(first);
      await toDebit(first); // killed here: the intent stays
      const r = rig({ journal: j, tariff: newer });
      await r.ctl.start();
      r.link.up();
      await r.settle();
      await r.advance(800); // recoveryListenMs: nothing came
      expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED"]);
      expect(j.records[0]).toMatchObject({ amount: 1425, amountDue: 1500, tariffVersion: "t-1" });
    });

    it("an intent an earlier version wrote (its price without a version) is still restored, named with the tariff loaded now", async () => {
      const j = new FakeJournal();
      const first = rig({ journal: j });
      await open(first);
      await toDebit(first);
      const [intent] = [...j.intents.values()];
      const payload = JSON.parse(intent!.payload) as { state: { debit: { price: Record<string, unknown> } } };
      expect(payload.state.debit.price.tariffVersion).toBe("t-1");
      delete payload.state.debit.price.tariffVersion;
      j.intents.set(intent!.id, { ...intent!, payload: JSON.stringify(payload) });
      const r = rig({ journal: j, tariff: newer });
      await r.ctl.start();
      r.link.up();
      await r.settle();
      await r.advance(800);
      expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED"]);
      expect(j.records[0]).toMatchObject({ amount: 1425, tariffVersion: "t-2" });
    });
  });

  it("killed after a C8 sent past its C6's window: the restart listens from the C8's intent write, and the B8 the RSU repeats records the debit", async () => {
    const j = new FakeJournal();
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first);
    await first.advance(900); // the B5 comes late, within b5TimeoutMs (1000), and is uncertain:
    first.link.frame(ev.b5(b5({ errorCode: 0x01, result: "uncertain" }))); // the intent rewritten, C8
    await first.settle();
    expect(first.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b8" }]);
    // killed here, restarted at once: the RSU repeats the B8 (3 times 120 ms apart) until C0 resets it
    const r = rig({ journal: j });
    await r.ctl.start();
    r.link.up();
    await r.settle();
    // before: the window counted from the intent's creation, its C6 900 ms ago (window 800): C0 at once,
    // the B8 reset away, a CRASH_RECOVERED suspect for a debit whose TAC was on its way
    expect(r.link.inits()).toBe(0);
    r.link.frame(ev.b8());
    await r.settle();
    expect(kinds(j)).toEqual(["transaction:EXIT_DEBIT_TAC_REFETCHED"]);
    expect(j.records[0]).toMatchObject({ tac: "0badcafe" });
    expect(j.intents.size).toBe(0);
    expect(r.link.inits()).toBe(1); // all settled: C0
  });

  it("restarted past the window of the newest intent's last write: nothing listens, C0 at once", async () => {
    const j = new FakeJournal();
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first);
    await first.advance(900);
    first.link.frame(ev.b5(b5({ errorCode: 0x01, result: "uncertain" }))); // C8
    await first.settle();
    vi.setSystemTime(Date.now() + 801); // the RSU's B8 repeats are over
    const r = rig({ journal: j });
    await r.ctl.start();
    r.link.up();
    await r.settle();
    expect(r.link.inits()).toBe(1);
    expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED"]);
  });

  it("a B5 heard in the listen window after a restart ends the hold on the card", async () => {
    const j = new FakeJournal();
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first); // killed here
    const r = rig({ journal: j });
    await r.ctl.start();
    r.link.up();
    await r.settle();
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(j)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    expect(r.ctl.guards.isHeld(OBU_SERIAL)).toBe(false);
  });
});

describe("a restored debit the restarted lane answers with its own C8 (review finding 1, session 29)", () => {
  /** A debit killed after its C6 (the first process's B5 deadline far off: its timer never fires here). */
  async function killedAtC6(j: FakeJournal): Promise<Rig> {
    const first = rig({ journal: j, transaction: { b5TimeoutMs: 60_000 } });
    await open(first);
    await toDebit(first);
    const r = rig({ journal: j }); // recoveryListenMs 800, b8TimeoutMs 1000, drainTimeoutMs 3000
    await r.ctl.start();
    r.link.up();
    await r.settle();
    // the RSU repeats the B5 for the dead process's C6, uncertain with the card's serial: this lane's C8
    r.link.frame(ev.b5(b5({ errorCode: 0x01, result: "uncertain", iccPaySerial: 17 })));
    await r.settle();
    expect(r.link.answersTo("trade")).toEqual([{ kind: "fetch-tac", obuId: OBU_ID, epSerial: 17 }]);
    return r;
  }

  it("the listen window's end neither records it nor sends C0 while its C8 is out: the B8 records the debit", async () => {
    const j = new FakeJournal();
    const r = await killedAtC6(j);
    await r.advance(800); // past the listen window, within the C8's b8TimeoutMs
    // before: the window's end recorded a CRASH_RECOVERED suspect and sent C0, resetting the RSU running the C8
    expect(kinds(j)).toEqual([]);
    expect(r.link.inits()).toBe(0);
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b8" }]);
    r.link.frame(ev.b8());
    await r.settle();
    expect(kinds(j)).toEqual(["transaction:EXIT_DEBIT_TAC_REFETCHED"]);
    expect(j.records[0]).toMatchObject({ tac: "0badcafe" });
    expect(j.intents.size).toBe(0);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    expect(r.link.inits()).toBe(1); // nothing in flight now: C0
  });

  it("no B8: its own deadline makes it the suspect of its B5 (B5_NO_DSRC, card held), then C0", async () => {
    const j = new FakeJournal();
    const r = await killedAtC6(j);
    await r.advance(800);
    expect(kinds(j)).toEqual([]);
    await r.advance(200); // b8TimeoutMs after the C8
    expect(kinds(j)).toEqual(["suspect:B5_NO_DSRC"]);
    expect(j.records[0]).toMatchObject({ iccPaySerial: "0011" });
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    expect(r.link.inits()).toBe(1);
  });

  it("a stop drains it as a debit in flight: the B8 after the window's end is recorded before the lane stops", async () => {
    const j = new FakeJournal();
    const r = await killedAtC6(j);
    let done = false;
    const stopped = r.ctl.stop().then(() => {
      done = true;
    });
    await r.advance(800);
    // before: the window's end recorded it CRASH_RECOVERED and so ended the drain
    expect(done).toBe(false);
    r.link.frame(ev.b8());
    await r.settle();
    await stopped;
    expect(kinds(j)).toEqual(["transaction:EXIT_DEBIT_TAC_REFETCHED"]);
    expect(r.link.stopped).toBe(true);
  });
  it("killed again after this lane's C8: the third process's record marks each earlier stage time once", async () => {
    const j = new FakeJournal();
    await killedAtC6(j); // the second process sent its C8, its intent rewritten with the first's times
    const r = rig({ journal: j }); // killed again: the third process
    await r.ctl.start();
    r.link.up();
    await r.settle();
    r.link.frame(ev.b8());
    await r.settle();
    expect(kinds(j)).toEqual(["transaction:EXIT_DEBIT_TAC_REFETCHED"]);
    const keys = Object.keys(j.records[0]!.stageTimes);
    // before: the first process's times came back as beforeRestart.beforeRestart.*
    expect(keys.filter((k) => k.includes("beforeRestart.beforeRestart."))).toEqual([]);
    expect(keys).toEqual(expect.arrayContaining(["beforeRestart.b4In", "beforeRestart.b5In", "b8In"]));
  });
});

describe("a restored debit whose C8 never left: the RSU's repeated B5 gets that C8 (review round 2, finding 2)", () => {
  it("killed during the fdatasync of the intent rewritten for the C8: the restart sends the C8 from a new intent write, and the B8 records the debit", async () => {
    const j = new FakeJournal();
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first);
    const uncertain = b5({ errorCode: 0x01, result: "uncertain", iccPaySerial: 17 });
    j.durable = () => new Promise<boolean>(() => {}); // the rewrite's fdatasync never ends: killed in it
    first.link.frame(ev.b5(uncertain));
    await vi.advanceTimersByTimeAsync(0);
    expect(first.link.answersTo("trade")).toEqual([]); // the C8 never left
    const [intent] = [...j.intents.values()];
    expect(JSON.parse(intent!.payload).state).toMatchObject({ phase: "await-b8", epSerial: 17 });
    j.durable = () => Promise.resolve(true);
    const r = rig({ journal: j }); // recoveryListenMs 800, b8TimeoutMs 1000
    await r.ctl.start();
    r.link.up();
    await r.settle();
    await r.advance(300); // within the listen window
    r.link.frame(ev.b5(uncertain)); // the RSU repeats the B5 nothing answered
    await r.settle();
    // before: a restored await-b8 ignored it, and the window's end made a CRASH_RECOVERED suspect
    expect(r.link.answersTo("trade")).toEqual([{ kind: "fetch-tac", obuId: OBU_ID, epSerial: 17 }]);
    // the intent rewritten before this C8: a process killed after it listens from this write
    expect(JSON.parse(j.intents.get(intent!.id)!.payload)).toMatchObject({
      writtenAtMs: Date.now(),
      state: { phase: "await-b8", epSerial: 17 },
    });
    await r.advance(800); // past the listen window, within this C8's b8TimeoutMs
    expect(kinds(j)).toEqual([]);
    expect(r.link.inits()).toBe(0);
    r.link.frame(ev.b8());
    await r.settle();
    expect(kinds(j)).toEqual(["transaction:EXIT_DEBIT_TAC_REFETCHED"]);
    expect(j.records[0]).toMatchObject({ tac: "0badcafe", iccPaySerial: "0011" });
    expect(j.intents.size).toBe(0);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    expect(r.link.inits()).toBe(1); // nothing in flight now: C0
  });
});

describe("a live await-b8: the RSU repeating the B5 its C8 answered (b5repeat, session 33)", () => {
  const uncertain = b5({ errorCode: 0x01, result: "uncertain", iccPaySerial: 17 });
  const C8 = { kind: "fetch-tac", obuId: OBU_ID, epSerial: 17 };

  /**
   * A debit whose uncertain B5 was answered C8 while the link was lost (refused before a byte was written,
   * E302): the RSU never got its question. The link is up again, and its answer cache, cleared by the
   * loss, takes the RSU's next repeat of that B5 for a new frame and hands it to the lane.
   */
  async function c8Lost(lines: LogLine[] = []): Promise<Rig> {
    const r = rig({ logger: recordingLogger(lines) }); // b8TimeoutMs 1000
    await open(r);
    await toDebit(r);
    r.link.refuseReply = (cmd) =>
      cmd.kind === "fetch-tac"
        ? new EtcError(
            ErrorCodes.LinkDown,
            "B5 received before the RSU link was lost; not sending C8",
            NOTHING_WRITTEN,
          )
        : undefined;
    r.link.frame(ev.b5(uncertain));
    r.link.down();
    await r.settle();
    r.link.refuseReply = undefined;
    r.link.up();
    await r.settle();
    expect(r.link.answersTo("trade")).toEqual([]); // the C8 never reached the RSU
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b8" }]);
    return r;
  }

  it("the repeat within the RSU's retransmission schedule gets the same C8, without a new intent write; the B8 records the debit", async () => {
    const lines: LogLine[] = [];
    const r = await c8Lost(lines);
    const [intent] = [...r.journal.intents.values()];
    const writes = vi.spyOn(r.journal, "writeIntent");
    await r.advance(240); // the RSU's second repeat (the first was lost with the link)
    r.link.frame(ev.b5({ ...uncertain }));
    await r.settle();
    // before: logged B5_REPEATED and left unanswered; no B8 could come, and b8TimeoutMs made a suspect
    expect(r.link.answersTo("trade")).toEqual([C8]);
    expect(writes).not.toHaveBeenCalled(); // no business logic run again: the intent is as it was
    expect(r.journal.intents.get(intent!.id)).toEqual(intent);
    expect(r.ctl.counters.c8Resent).toBe(1);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: "info", obj: expect.objectContaining({ code: "C8_RESENT" }) }),
    );
    expect(r.journal.records).toEqual([]);
    r.link.frame(ev.b8());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT_TAC_REFETCHED"]);
    expect(r.journal.records[0]).toMatchObject({ tac: "0badcafe", iccPaySerial: "0011" });
    expect(r.journal.intents.size).toBe(0);
  });

  it("the C8 sent again does not extend b8TimeoutMs: the debit is the suspect its B5 made, once", async () => {
    const r = await c8Lost();
    await r.advance(360); // the RSU's last repeat
    r.link.frame(ev.b5(uncertain));
    await r.settle();
    expect(r.link.answersTo("trade")).toEqual([C8]);
    await r.advance(640); // b8TimeoutMs after the first C8
    expect(kinds(r.journal)).toEqual(["suspect:B5_NO_DSRC"]);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    await r.advance(1000);
    expect(r.journal.records).toHaveLength(1);
  });

  // review round 2: a resend the link refused was counted and logged as "sent again"
  it("a C8 to send again that the link refuses is not counted as sent again", async () => {
    const lines: LogLine[] = [];
    const r = await c8Lost(lines);
    r.link.refuseReply = (cmd) =>
      cmd.kind === "fetch-tac"
        ? new EtcError(
            ErrorCodes.LinkDown,
            "B5 received before the RSU link was lost; not sending C8",
            NOTHING_WRITTEN,
          )
        : undefined;
    await r.advance(240);
    r.link.frame(ev.b5(uncertain));
    await r.settle();
    expect(r.link.answersTo("trade")).toEqual([]);
    expect(r.ctl.counters.c8Resent).toBe(0);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: "info",
        obj: expect.objectContaining({ code: "C8_RESENT" }),
        msg: "the C8 to send again for the repeated B5 did not leave",
      }),
    );
    expect(lines).not.toContainEqual(
      expect.objectContaining({ msg: expect.stringContaining("the same C8 sent again") }),
    );
  });

  it("past the RSU's retransmission schedule, or a B5 that is not the one answered: no reply, as before", async () => {
    const lines: LogLine[] = [];
    const r = await c8Lost(lines);
    r.link.frame(ev.b5({ ...uncertain, errorCode: 0x02 })); // another B5 within the schedule
    await r.settle();
    await r.advance(481); // past 3 x 120 ms + one interval of margin (rsu.link.dedupeWindowMs)
    r.link.frame(ev.b5(uncertain));
    await r.settle();
    expect(r.link.answersTo("trade")).toEqual([]);
    expect(r.ctl.counters.c8Resent).toBe(0);
    expect(lines).toContainEqual(
      expect.objectContaining({ obj: expect.objectContaining({ code: "B5_REPEATED" }) }),
    );
    await r.advance(519); // b8TimeoutMs after the C8
    expect(kinds(r.journal)).toEqual(["suspect:B5_NO_DSRC"]);
  });
});

describe("two restored debits, one answered with this lane's C8, the other still waiting (review round 2, note)", () => {
  const OTHER = b2({ obuId: "0000beef", contractSerial: "4301010000000777" });
  const OTHER_CARD = "43010000000000005678";
  /**
   * Two debits killed after their C6, restarted: the RSU repeats the first's B5, uncertain with its serial
   * (this lane's C8); nothing comes for the second (0000beef).
   */
  async function restarted(j: FakeJournal): Promise<Rig> {
    const first = rig({ journal: j, transaction: { b5TimeoutMs: 60_000 } });
    await open(first);
    await toDebit(first);
    await toDebit(first, OTHER, b4({ card: { cardSerial: OTHER_CARD.slice(4) } }));
    expect(j.intents.size).toBe(2);
    const r = rig({ journal: j }); // recoveryListenMs 800, b8TimeoutMs 1000, initTimeoutMs 1000
    await r.ctl.start();
    r.link.up();
    await r.settle();
    r.link.frame(ev.b5(b5({ errorCode: 0x01, result: "uncertain", iccPaySerial: 17 })));
    await r.settle();
    expect(r.link.answersTo("trade")).toEqual([{ kind: "fetch-tac", obuId: OBU_ID, epSerial: 17 }]);
    expect(r.link.inits()).toBe(0); // the second still waits: the window stays open
    return r;
  }

  it("the window's end on its timer records only the one still waiting; C0 waits for the C8's B8", async () => {
    const j = new FakeJournal();
    const r = await restarted(j);
    await r.advance(800); // the listen window's end, on its timer
    expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED"]);
    expect(j.records[0]).toMatchObject({ obuId: "0000beef", cardId: OTHER_CARD });
    expect(r.link.inits()).toBe(0); // the C8 is out: C0 held
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b8" }]);
    r.link.frame(ev.b8());
    await r.settle();
    expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED", "transaction:EXIT_DEBIT_TAC_REFETCHED"]);
    expect(j.records[1]).toMatchObject({ obuId: OBU_ID, cardId: CARD_ID, tac: "0badcafe" });
    expect(j.intents.size).toBe(0);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    expect(r.ctl.guards.isHeld(OTHER_CARD)).toBe(true);
    expect(r.link.inits()).toBe(1); // nothing in flight now: C0
  });

  it("an RSU reboot meanwhile: the one still waiting is recorded, one C0 goes out, the C8's debit ends on its own deadline, no second C0", async () => {
    const j = new FakeJournal();
    const r = await restarted(j);
    await r.advance(300); // within the listen window
    r.link.frame(ev.b0({ rebooted: true }), { rebooted: true });
    await r.settle();
    // the rebooted RSU answers nothing it had in flight: the window ends, and the reboot's C0 goes out
    // though the C8's debit is still in flight (nothing will answer it now)
    expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED"]);
    expect(j.records[0]).toMatchObject({ obuId: "0000beef" });
    expect(r.link.inits()).toBe(1);
    expect(r.ctl.inFlight()).toEqual([{ obuId: OBU_ID, phase: "await-b8" }]);
    await r.advance(700); // b8TimeoutMs after the C8, within the C0's initTimeoutMs
    expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED", "suspect:B5_NO_DSRC"]);
    expect(j.records[1]).toMatchObject({ obuId: OBU_ID, iccPaySerial: "0011" });
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    expect(r.link.inits()).toBe(1); // the C0 already out waits for its B0: no second one
    r.link.frame(ev.b0());
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
    expect(r.link.inits()).toBe(1);
  });
});

describe("a stop while restored debits wait for the listen window (review finding 4)", () => {
  /** A debit in flight when the process was killed: its intent stays for the next start. */
  async function killedWithDebit(j: FakeJournal): Promise<void> {
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first);
  }

  it("the link never up (RSU unplugged at the restart): the restored debit ends CRASH_RECOVERED at the drain timeout, not LANE_STOPPED", async () => {
    const j = new FakeJournal();
    await killedWithDebit(j);
    const r = rig({ journal: j, transaction: { drainTimeoutMs: 500 } });
    await r.ctl.start();
    await r.settle();
    const stopped = r.ctl.stop();
    await r.advance(500);
    await stopped;
    // before: suspect:LANE_STOPPED, the reason of a debit this process sent and the stop cut short
    expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED"]);
    expect(j.intents.size).toBe(0);
    expect(r.link.stopped).toBe(true);
  });

  it("the link up and listening: the stop ends with the window (CRASH_RECOVERED), not at drainTimeoutMs", async () => {
    const j = new FakeJournal();
    await killedWithDebit(j);
    const r = rig({ journal: j }); // recoveryListenMs 800, drainTimeoutMs 3000
    await r.ctl.start();
    r.link.up();
    await r.settle();
    let done = false;
    const stopped = r.ctl.stop().then(() => {
      done = true;
    });
    await r.settle();
    expect(done).toBe(false);
    await r.advance(800); // the listen window's end
    // before: the window's end did not tell the drain, which waited for its timeout (3000)
    expect(done).toBe(true);
    await stopped;
    expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED"]);
    expect(r.link.stopped).toBe(true);
  });
});

describe("a restored debit a new B2 supersedes in the listen window (review finding, session 32)", () => {
  it("the window ends at once: its SUPERSEDED suspect, then C0, without waiting for the window's timer", async () => {
    const j = new FakeJournal();
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first); // killed here: the intent stays
    const r = rig({ journal: j }); // recoveryListenMs 800
    await r.ctl.start();
    r.link.up();
    await r.settle();
    expect(r.link.inits()).toBe(0); // listening
    r.link.frame(ev.b2()); // the RSU starts over with that OBU
    await r.settle();
    expect(kinds(j)).toEqual(["suspect:SUPERSEDED"]);
    expect(r.link.answersTo("obu")).toEqual([{ kind: "stop", obuId: OBU_ID, stopType: 1, timeMs: NOW }]);
    // before: C0 waited for the window's timer (800 ms) although nothing was left to listen for
    expect(r.link.inits()).toBe(1);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
  });
});

describe("a restored debit that a live answer proves untouched (review finding 4)", () => {
  // before, the hold placed at start stayed for unsettledHoldMs (24 h) after the TRADE_FAILED stop
  it.each([
    ["a B5 classed failed, in await-b5", false],
    ["a B8 classed failed, in await-b8", true],
  ] as const)("%s: a TRADE_FAILED stop, the card and OBU no longer held", async (_, viaC8) => {
    const j = new FakeJournal();
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first);
    if (viaC8) {
      first.link.frame(ev.b5(b5({ errorCode: 1, result: "uncertain", tac: null }))); // C8 out
      await first.settle();
    }
    // killed here: the intent stays
    const r = rig({ journal: j });
    await r.ctl.start();
    r.link.up();
    await r.settle();
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    r.link.frame(
      viaC8
        ? ev.b8(b8({ errorCode: 0x42, result: "failed", tac: null }))
        : ev.b5(b5({ errorCode: 6, result: "failed", tac: null })),
    );
    await r.settle();
    expect(kinds(j)).toEqual(["stop:TRADE_FAILED"]);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    expect(r.ctl.guards.isHeld(OBU_SERIAL)).toBe(false);
  });

  it("no answer in the listen window: a CRASH_RECOVERED suspect, the card and OBU stay held", async () => {
    const j = new FakeJournal();
    const first = rig({ journal: j });
    await open(first);
    await toDebit(first);
    const r = rig({ journal: j });
    await r.ctl.start();
    r.link.up();
    await r.settle();
    await r.advance(800); // recoveryListenMs
    expect(kinds(j)).toEqual(["suspect:CRASH_RECOVERED"]);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    expect(r.ctl.guards.isHeld(OBU_SERIAL)).toBe(true);
  });
});

describe("a booth debit left uncertain, the lane restarted without a booth", () => {
  /** the intent a booth left when its DEBIT's answer was lost (src/booth/charge.ts) */
  const boothIntent = (j: FakeJournal, obuSerial: string | null, payload?: string): number =>
    j.writeIntent(`booth:${CARD_ID}`, payload ?? boothIntentPayload(CARD_ID, obuSerial));
  const DAY = 86_400_000; // transaction.unsettledHoldMs in the rig
  /** a rig whose monotonic clock can be moved on (the guards' memory) without running the timers */
  const rigAhead = (o: Parameters<typeof rig>[0]) => {
    let ahead = 0;
    const r = rig({ ...o, now: () => Date.now() + ahead });
    return { r, later: (ms: number) => (ahead += ms) };
  };
  const alarmsOf = (r: Rig, code: string) =>
    r.outputs.flatMap((o) => (o.type === "alarm" && o.code === code ? [o.message] : []));
  /** the C6s (debits) the lane sent */
  const debits = (r: Rig) => r.link.answersTo("card").filter((c) => c !== "ACK" && c.kind === "debit");

  it("no reader section: recorded at start as a BOOTH_DEBIT_UNCONFIRMED suspect (the intent deleted with it), an alarm names the card and the suspect; a day later, no restart, the same card over DSRC is still an UNSETTLED_DEBIT stop, no C6", async () => {
    const j = new FakeJournal();
    boothIntent(j, null);
    const { r, later } = rigAhead({ journal: j }); // no boothConfigured: the lane has no reader section
    await open(r);
    // before: no record, the intent kept, the card held in memory only, for unsettledHoldMs
    expect(kinds(j)).toEqual(["suspect:BOOTH_DEBIT_UNCONFIRMED"]);
    expect(j.records[0]).toMatchObject({ cardId: CARD_ID, amount: 1425, iccPaySerial: "0011", tac: null });
    expect(j.intents.size).toBe(0);
    const [alarm] = alarmsOf(r, "BOOTH_DEBIT_UNSETTLED");
    expect(alarm).toContain(CARD_ID);
    expect(alarm).toContain("suspect 1");
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    later(DAY + 1); // the guards' memory forgot the card
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    await toDebit(r);
    expect(kinds(j)).toEqual(["suspect:BOOTH_DEBIT_UNCONFIRMED", "stop:UNSETTLED_DEBIT"]);
    expect(r.link.answersTo("card")).toEqual([
      { kind: "stop", obuId: OBU_ID, stopType: 1, timeMs: Date.now() },
    ]);
    expect(debits(r)).toEqual([]);
  });

  it("the OBU of the booth case is held too, past the guards' memory", async () => {
    const j = new FakeJournal();
    boothIntent(j, OBU_SERIAL);
    const { r, later } = rigAhead({ journal: j });
    await open(r);
    expect(j.records[0]).toMatchObject({ obuSerial: OBU_SERIAL, cardId: CARD_ID });
    expect(r.ctl.guards.isHeld(OBU_SERIAL)).toBe(true);
    later(DAY + 1);
    await toDebit(r, b2(), b4({ card: { cardSerial: "0000000000009999" } })); // the OBU with another card
    expect(kinds(j)).toEqual(["suspect:BOOTH_DEBIT_UNCONFIRMED", "stop:UNSETTLED_DEBIT"]);
    expect(debits(r)).toEqual([]);
  });

  it("an intent that holds its paid record (DEBIT answered, its commit failed): that record committed at start, the intent deleted with it, the card not held", async () => {
    const j = new FakeJournal();
    boothIntent(j, OBU_SERIAL, boothIntentPayload(CARD_ID, OBU_SERIAL, "a1b2c3d4"));
    const r = rig({ journal: j });
    await open(r);
    expect(kinds(j)).toEqual(["transaction:BOOTH_EXIT_DEBIT"]);
    expect(j.records[0]).toMatchObject({ tac: "a1b2c3d4", amount: 1425, balanceAfter: 8575 });
    expect(j.intents.size).toBe(0);
    expect(alarmsOf(r, "BOOTH_CRASH_RECOVERY")).toEqual([expect.stringContaining(CARD_ID)]);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    await toDebit(r); // a trade like any other: the same OBU again within the recent-trade window
    expect(r.ctl.counters.alreadyTraded).toBe(1);
    expect(kinds(j)).toEqual(["transaction:BOOTH_EXIT_DEBIT"]);
    expect(debits(r)).toEqual([]);
  });

  it("an intent whose paid record has a TAC of all zeros (kept by a version before the zero-TAC fix): no proof, recorded as a BOOTH_DEBIT_UNCONFIRMED suspect, the intent deleted with it; card and OBU held until it is settled", async () => {
    const j = new FakeJournal();
    // as the journal refuses a transaction whose TAC is all zeros (src/journal/records.ts clearingRefusal)
    const commit = j.commit.bind(j);
    j.commit = (rec, opts) => {
      if (rec.kind === "transaction" && tacMissing(rec.tac))
        throw new EtcError(JournalErrorCodes.JournalRecordInvalid, "record invalid: tac is all zeros");
      return commit(rec, opts);
    };
    boothIntent(j, OBU_SERIAL, boothIntentPayload(CARD_ID, OBU_SERIAL, "00000000"));
    const { r, later } = rigAhead({ journal: j });
    await open(r);
    expect(kinds(j)).toEqual(["suspect:BOOTH_DEBIT_UNCONFIRMED"]);
    expect(j.records[0]).toMatchObject({ cardId: CARD_ID, obuSerial: OBU_SERIAL, amount: 1425, tac: null });
    expect(j.records[0]?.extra).toMatchObject({
      booth: { unconfirmed: expect.stringContaining("TAC of all zeros (00000000)") },
    });
    expect(j.intents.size).toBe(0);
    const [alarm] = alarmsOf(r, "BOOTH_DEBIT_UNSETTLED");
    expect(alarm).toContain("recorded as suspect 1");
    expect(alarmsOf(r, "BOOTH_DEBIT_UNSETTLED")).toHaveLength(1);
    expect(alarmsOf(r, "BOOTH_CRASH_RECOVERY")).toEqual([]);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
    expect(r.ctl.guards.isHeld(OBU_SERIAL)).toBe(true);
    later(DAY + 1); // the guards' memory forgot them: the open suspect holds the card
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    await toDebit(r, b2({ contractSerial: "0000000000009999" })); // the card in another OBU
    expect(kinds(j)).toEqual(["suspect:BOOTH_DEBIT_UNCONFIRMED", "stop:UNSETTLED_DEBIT"]);
    expect(debits(r)).toEqual([]);
  });

  it.each([
    ["not JSON", "{"],
    ["payload version 2", JSON.stringify({ v: 2, cardId: CARD_ID, obuSerial: OBU_SERIAL })],
  ])(
    "an intent it cannot read (%s): kept, BOOTH_INTENT_UNREADABLE names it, its card held past the guards' memory",
    async (why, payload) => {
      const j = new FakeJournal();
      const id = boothIntent(j, null, payload);
      const { r, later } = rigAhead({ journal: j });
      await open(r);
      expect(j.records).toEqual([]);
      expect([...j.intents.keys()]).toEqual([id]);
      const [alarm] = alarmsOf(r, "BOOTH_INTENT_UNREADABLE");
      expect(alarm).toContain(`intent ${id} (booth:${CARD_ID})`);
      expect(alarm).toContain(why);
      expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
      later(DAY + 1);
      await toDebit(r);
      expect(kinds(j)).toEqual(["stop:UNSETTLED_DEBIT"]);
      expect(debits(r)).toEqual([]);
    },
  );

  it("a journal that fails the record at start: the lane closes (JOURNAL_FAILED), the intent and the hold stay", async () => {
    const j = new FakeJournal();
    const id = boothIntent(j, null);
    j.failCommits = true;
    const r = rig({ journal: j });
    await r.ctl.start();
    await r.settle();
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "journal" });
    expect([...j.intents.keys()]).toEqual([id]);
    expect(alarmsOf(r, "BOOTH_DEBIT_UNSETTLED")).toEqual([expect.stringContaining(`intent ${id} kept`)]);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
  });

  it("with a booth configured the controller leaves the intent to it; the journal holds its card over DSRC for as long as the intent is open", async () => {
    const j = new FakeJournal();
    boothIntent(j, null);
    const r = rig({ journal: j, boothConfigured: true, transaction: { unsettledHoldMs: 0 } });
    await open(r);
    expect(r.ctl.guards.isHeld(CARD_ID)).toBe(false);
    expect(alarmsOf(r, "BOOTH_DEBIT_UNSETTLED")).toEqual([]);
    expect(j.records).toEqual([]);
    expect(j.intents.size).toBe(1);
    await toDebit(r); // the booth still recovering it (its guards' hold is 0 ms here)
    expect(kinds(j)).toEqual(["stop:UNSETTLED_DEBIT"]);
    expect(debits(r)).toEqual([]);
  });

  it("a journal that cannot say whether a booth intent names the card holds it", async () => {
    const r = rig();
    await open(r);
    r.journal.openIntentOf = () => {
      throw new Error("SQLITE_IOERR");
    };
    await toDebit(r);
    expect(kinds(r.journal)).toEqual(["stop:UNSETTLED_DEBIT"]);
  });
});

describe("status-list health and policy (defect 12)", () => {
  it("no list loaded under 'close': the lane does not open, with an alarm; a list loaded opens it", async () => {
    const r = rig();
    r.list.health$.next({ state: "missing", reason: "no status list loaded" });
    await r.ctl.start();
    r.link.up();
    await r.settle();
    r.link.frame(ev.b0());
    await r.settle();
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "status-list" });
    expect(r.link.antenna()).toEqual([]);
    expect(r.outputs.some((o) => o.type === "alarm" && o.code === "STATUS_LIST_MISSING")).toBe(true);
    r.list.health$.next({ state: "ok", reason: "" });
    await r.settle();
    expect(r.ctl.status.status).toBe("open");
    expect(r.link.antenna()).toEqual([true]);
  });

  it("the list goes missing while a vehicle is at B4: that card is stopped STATUS_LIST_FAILED, never traded", async () => {
    const r = rig();
    await open(r);
    r.link.frame(ev.b2());
    await r.settle();
    r.link.frame(ev.b3());
    await r.settle();
    r.list.health$.next({ state: "missing", reason: "list files gone" });
    await r.settle();
    r.link.frame(ev.b4());
    await r.settle();
    expect(r.link.answersTo("card").some((c) => c !== "ACK" && c.kind === "debit")).toBe(false);
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "status-list" });
  });

  it("under 'trade': the lane opens and trades, with an alarm, and the record says so", async () => {
    const r = rig({ statusListPolicy: { whenMissing: "trade", whenPastHardAge: "trade" } });
    r.list.health$.next({ state: "missing", reason: "no status list loaded" });
    r.list.noList = true; // as the list answers with no list loaded
    await open(r);
    await toDebit(r);
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(r.journal.records[0]!.extra).toMatchObject({ warnings: ["STATUS_LIST_MISSING"] });
    expect(r.outputs.some((o) => o.type === "alarm" && o.code === "STATUS_LIST_MISSING")).toBe(true);
  });

  it("past its hard age under 'trade': traded on the list it has, the record carries the warning and the versions", async () => {
    const r = rig(); // whenPastHardAge: trade
    r.list.health$.next({ state: "past-hard-age", reason: "newest update 30 h old" });
    await open(r);
    await toDebit(r);
    r.link.frame(ev.b5());
    await r.settle();
    expect(r.journal.records[0]).toMatchObject({
      kind: "transaction",
      statusListVersions: { full: "f1", delta: null },
      extra: { warnings: ["STATUS_LIST_PAST_HARD_AGE"] },
    });
    expect(r.journal.records[0]!.extra?.statusListChecked).toBeUndefined();
  });

  it("an OBU listed by a delta between its B2 and its B4: the B4 lookup of card and OBU stops it OBU_ON_STATUS_LIST, no C6", async () => {
    const r = rig();
    await open(r);
    await toAwaitB4(r);
    r.list.listed.add(OBU_SERIAL); // a delta lists the OBU after its B2
    r.link.frame(ev.b4());
    await r.settle();
    expect(r.link.answersTo("card").some((c) => c !== "ACK" && c.kind === "debit")).toBe(false);
    expect(kinds(r.journal)).toEqual(["stop:OBU_ON_STATUS_LIST"]);
    expect(r.journal.records[0]!.extra).toMatchObject({ statusList: { kind: "obu", id: OBU_SERIAL } });
  });

  it("a lookup that throws: STATUS_LIST_FAILED stop of that vehicle and an alarm; the lane stays open", async () => {
    const r = rig();
    await open(r);
    r.list.throws = new Error("SQLITE_IOERR");
    r.link.frame(ev.b2());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["stop:STATUS_LIST_FAILED"]);
    expect(r.outputs.some((o) => o.type === "alarm" && o.code === "STATUS_LIST_FAILED")).toBe(true);
    expect(r.ctl.status.status).toBe("open");
  });
});

describe("status-list lookups with no list loaded (noList: not checked, never 'not listed')", () => {
  it("under whenMissing 'trade': traded, the records say the list was not checked, the alarm is rate-limited", async () => {
    const r = rig({
      statusListPolicy: { whenMissing: "trade", whenPastHardAge: "trade", alarmRepeatMs: 60_000 },
    });
    await open(r); // the health still says ok: the lookup's answer is what counts
    r.list.noList = true;
    const notChecked = (): number =>
      r.outputs.filter((o) => o.type === "alarm" && o.code === "STATUS_LIST_NOT_CHECKED").length;
    await toDebit(r);
    r.link.frame(ev.b5());
    await r.settle();
    await r.advance(0); // the alarm is raised after the reply is on its way
    expect(notChecked()).toBe(1);
    const second = b2({ obuId: "0000beef", contractSerial: "4301010000000777" });
    await toDebit(r, second, b4({ card: { cardSerial: "0000000000005678" } }));
    await r.advance(1000); // no B5: a suspect, also unchecked
    expect(notChecked()).toBe(1); // within alarmRepeatMs: not again
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT", "suspect:B5_MISSING"]);
    for (const rec of r.journal.records) {
      expect(rec.statusListVersions).toEqual({ full: null, delta: null });
      expect(rec.extra).toMatchObject({ statusListChecked: false, warnings: ["STATUS_LIST_MISSING"] });
    }
    await r.advance(60_000);
    r.link.frame(ev.b2(b2({ obuId: "0000cafe", contractSerial: "4301010000000888" })));
    await r.settle();
    await r.advance(0);
    expect(notChecked()).toBe(2);
  });

  it("under 'trade', no list at B2 but one loaded by B4: the B4 lookup (card and OBU) decides, the record says checked", async () => {
    const r = rig({ statusListPolicy: { whenMissing: "trade", whenPastHardAge: "trade" } });
    await open(r);
    r.list.noList = true;
    await toAwaitB4(r);
    r.list.noList = false; // the list is loaded before the card is read
    r.link.frame(ev.b4());
    await r.settle();
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    const rec = r.journal.records[0]!;
    expect(rec.statusListVersions).toEqual({ full: "f1", delta: null });
    expect(rec.extra?.statusListChecked).toBeUndefined();
    expect(rec.extra?.warnings ?? []).not.toContain("STATUS_LIST_MISSING");
  });

  it("past its hard age at B2, a delta applied before B4: the B4 lookup decides, no PAST_HARD_AGE carried from B2", async () => {
    const r = rig(); // whenPastHardAge: trade
    r.list.health$.next({ state: "past-hard-age", reason: "newest update 30 h old" });
    await open(r);
    await toAwaitB4(r);
    r.list.health$.next({ state: "ok", reason: "" }); // a delta brought the list back within its ages
    r.link.frame(ev.b4());
    await r.settle();
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(r.journal.records[0]!.extra?.warnings ?? []).not.toContain("STATUS_LIST_PAST_HARD_AGE");
  });

  it("under 'trade', no list at B2, the card listed in the list loaded by B4: its stop names that list, not 'unchecked'", async () => {
    const r = rig({ statusListPolicy: { whenMissing: "trade", whenPastHardAge: "trade" } });
    await open(r);
    r.list.noList = true;
    await toAwaitB4(r);
    r.list.noList = false;
    r.list.listed.add(CARD_ID);
    r.link.frame(ev.b4());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["stop:CARD_ON_STATUS_LIST"]);
    const rec = r.journal.records[0]!;
    expect(rec.statusListVersions).toEqual({ full: "f1", delta: null });
    expect(rec.extra?.statusListChecked).toBeUndefined();
    expect(rec.extra?.warnings ?? []).not.toContain("STATUS_LIST_MISSING");
  });

  it("under whenMissing 'close': a lookup answering noList stops the vehicle STATUS_LIST_FAILED, no debit", async () => {
    const r = rig(); // whenMissing: close
    await open(r);
    r.list.noList = true; // the list went away before its health said so
    await toDebit(r);
    expect(r.link.answersTo("card").some((c) => c !== "ACK" && c.kind === "debit")).toBe(false);
    expect(kinds(r.journal)).toEqual(["stop:STATUS_LIST_FAILED"]);
    expect(r.outputs.some((o) => o.type === "alarm" && o.code === "STATUS_LIST_FAILED")).toBe(true);
  });
});

describe("an operator's close (LaneOperator.closeLane / openLane)", () => {
  const wang = { name: "wang", uid: 1000 };

  it("closes the lane (antenna off, B2 refused), survives a restart, and openLane lifts it", async () => {
    const j = new FakeJournal();
    const r = rig({ journal: j });
    await open(r);
    const res = await r.ctl.closeLane(wang, "barrier maintenance");
    expect(res).toMatchObject({ ok: true });
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "operator" });
    expect(r.ctl.operatorClosed).toMatchObject({ user: "wang", uid: 1000, reason: "barrier maintenance" });
    expect(r.link.antenna()).toEqual([true, false]);
    r.link.frame(ev.b2());
    await r.settle();
    expect(r.link.answersTo("obu")).toEqual([{ kind: "stop", obuId: OBU_ID, stopType: 1, timeMs: NOW }]);
    // no alarm: an operator's close is meant (a notice says who and why)
    expect(r.outputs.some((o) => o.type === "alarm")).toBe(false);
    // a restart on the same journal: the RSU initialises, the lane stays closed, the antenna off
    const r2 = rig({ journal: j });
    await r2.ctl.start();
    r2.link.up();
    await r2.settle();
    r2.link.frame(ev.b0());
    await r2.settle();
    expect(r2.ctl.status).toMatchObject({ status: "closed", reason: "operator" });
    expect(r2.link.antenna()).toEqual([]);
    expect(await r2.ctl.openLane(wang)).toMatchObject({ ok: true });
    expect(r2.ctl.status.status).toBe("open");
    expect(r2.link.antenna()).toEqual([true]);
    expect(r2.ctl.operatorClosed).toBeNull();
    // and the next restart opens by itself
    const r3 = rig({ journal: j });
    await open(r3);
  });

  it("a debit in flight is answered and recorded after the close; then the antenna goes off", async () => {
    const r = rig();
    await open(r);
    await toDebit(r);
    await r.ctl.closeLane(wang, "end of shift");
    expect(r.link.antenna()).toEqual([true]);
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(r.link.antenna()).toEqual([true, false]);
  });

  it("the close cannot be recorded: the lane closes all the same, and the answer says so", async () => {
    const r = rig();
    await open(r);
    r.journal.failCommits = true;
    const res = await r.ctl.closeLane(wang, "maintenance");
    expect(res.ok).toBe(false);
    expect(res.message).toMatch(/could not be recorded/);
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "operator" });
  });

  it("openLane on a lane no operator closed changes nothing", async () => {
    const r = rig();
    await open(r);
    expect(await r.ctl.openLane(wang)).toEqual({
      ok: true,
      message: "the lane was not closed by an operator",
    });
    expect(r.ctl.status.status).toBe("open");
  });
});

describe("events and counters for the status service", () => {
  it("events$ carries lane open/closed, link up/down and alarms", async () => {
    const r = rig();
    const seen: string[] = [];
    r.ctl.events$.subscribe((e) => seen.push(`${e.type}:${"status" in e ? e.status : e.code}`));
    await open(r);
    r.link.down();
    await r.settle();
    expect(seen).toEqual(["link:up", "lane:open", "link:down", "lane:closed", "alarm:LANE_CLOSED_RSU_DOWN"]);
  });
});

describe("crash recovery: a debit intent the lane cannot read", () => {
  const DAY = 86_400_000; // transaction.unsettledHoldMs in the rig
  const alarmsOf = (r: Rig, code: string) =>
    r.outputs.flatMap((o) => (o.type === "alarm" && o.code === code ? [o.message] : []));
  const debits = (r: Rig) => r.link.answersTo("card").filter((c) => c !== "ACK" && c.kind === "debit");
  /** the payload with a field of its debit removed */
  const without = (p: string, drop: (debit: Record<string, Record<string, unknown>>) => void): string => {
    const o = JSON.parse(p) as { state: { debit: Record<string, Record<string, unknown>> } };
    drop(o.state.debit);
    return JSON.stringify(o);
  };

  it.each([
    ["not JSON", (p: string) => p.slice(0, p.length - 40)],
    [
      "not a debit waiting for its answer",
      (p: string) =>
        JSON.stringify({ ...JSON.parse(p), state: { ...JSON.parse(p).state, phase: "await-b9" } }),
    ],
    // valid JSON in the phase and with the ids this version writes, without a field the restore or its
    // records read (another version's payload): before, start() threw a TypeError and the lane never opened
    ["state.debit.price missing", (p: string) => without(p, (d) => delete d.price)],
    ["state.debit.obu.obuId missing", (p: string) => without(p, (d) => delete d.obu?.obuId)],
    ["state.debit.card.balance missing", (p: string) => without(p, (d) => delete d.card?.balance)],
    ["state.debit.purchaseTimeMs missing", (p: string) => without(p, (d) => delete d.purchaseTimeMs)],
  ])(
    "%s: kept, DEBIT_INTENT_UNREADABLE names it and its card, the card held past the guards' memory, no C6 for it",
    async (why, damage) => {
      const j = new FakeJournal();
      const first = rig({ journal: j });
      await open(first);
      await toDebit(first); // killed here: the C6 is out, the intent stays
      const [intent] = [...j.intents.values()];
      j.intents.set(intent!.id, { ...intent!, payload: damage(intent!.payload) });
      let ahead = 0;
      const r = rig({ journal: j, now: () => Date.now() + ahead });
      await open(r); // nothing to listen for: the lane opens
      expect(j.records).toEqual([]);
      expect([...j.intents.keys()]).toEqual([intent!.id]);
      const [alarm] = alarmsOf(r, "DEBIT_INTENT_UNREADABLE");
      expect(alarm).toContain(`debit intent ${intent!.id} (OBU ${intent!.key})`);
      expect(alarm).toContain(why);
      expect(alarm).toContain(`card ${CARD_ID}`);
      expect(alarmsOf(r, "CRASH_RECOVERY")).toEqual([]);
      ahead += DAY + 1; // past unsettledHoldMs: the hold is the process's, not the guards' window
      expect(r.ctl.guards.isHeld(CARD_ID)).toBe(true);
      await toDebit(r);
      expect(kinds(j)).toEqual(["stop:UNSETTLED_DEBIT"]);
      expect(debits(r)).toEqual([]);
    },
  );
});

describe("a frame whose handling throws (a defect, not a state the lane knows)", () => {
  it("is counted and alarmed with the frame's type, and the next vehicle trades", async () => {
    const r = rig();
    await open(r);
    // a B3 whose event has no vehicle information: reading its OBU id throws a TypeError in the handling
    r.link.frame({ kind: "vehicle" } as unknown as RsuEvent, { raw: "ffb3" });
    await r.settle();
    expect(r.ctl.counters.loopErrors).toBe(1);
    expect(r.outputs).toContainEqual(
      expect.objectContaining({
        type: "alarm",
        code: "LANE_LOOP_ERROR",
        message: expect.stringMatching(/^a EV frame's handling threw: Cannot read properties of undefined/),
      }),
    );
    await toDebit(r);
    r.link.frame(ev.b5());
    await r.settle();
    expect(kinds(r.journal)).toEqual(["transaction:EXIT_DEBIT"]);
  });
});
