/**
 * The person behind `sudo -u etclane etc-lane ...` (OperatorUser.sudoUser, docs/maintenance.md "Who did
 * it") is carried wherever the lane names who acted, not only in the `operator.*` audit records: the
 * close kept in the journal (and so /status, the page, `etc-lane status`), the lane's notices, and a hand
 * settlement's evidence.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { formatStatus } from "../../src/cli/commands/status.js";
import { operatorSettlement } from "../../src/lane/operator-settlement.js";
import type { LaneRuntime } from "../../src/lane/runtime.js";
import type { LaneSnapshot, OperatorUser } from "../../src/service/lane-view.js";
import { renderState } from "../../src/service/page/render.js";
import { laneRuntimeOperator } from "../../src/service/runtime-operator.js";
import { sampleRecord } from "../journal/sample-record.js";
import { FakeJournal, type Rig, rig } from "../lane/controller-fakes.js";
import { NOW } from "../lane/machine-fixtures.js";
import { baseSnapshot } from "./fake-lane.js";

beforeEach(() => {
  vi.useFakeTimers({ now: NOW });
});
afterEach(() => {
  vi.useRealTimers();
});

const asEtclane = (sudoUser: string): OperatorUser => ({
  name: "etclane",
  uid: 998,
  pid: 4242,
  sudoUser,
  via: "socket",
});

async function openLane(r: Rig): Promise<void> {
  await r.open();
  expect(r.ctl.status.status).toBe("open");
}

const notices = (events: { type: string; message?: string }[]) =>
  events.filter((e) => e.type === "notice").map((e) => e.message);

describe("sudo -u etclane: the person is named, not only the account", () => {
  it("wang's close is wang's in the kept close, /status, the page, etc-lane status; li lifting it is not 'their own'", async () => {
    const j = new FakeJournal();
    const r = rig({ journal: j });
    const events: { type: string; message?: string }[] = [];
    r.ctl.events$.subscribe((e) => events.push(e as { type: string; message?: string }));
    await openLane(r);
    const op = laneRuntimeOperator({ controller: r.ctl } as unknown as LaneRuntime);

    await op.closeLane(asEtclane("wang"), "barrier maintenance");
    expect(r.ctl.operatorClosed).toMatchObject({ user: "etclane", uid: 998, sudoUser: "wang" });
    expect(r.ctl.status).toMatchObject({
      reason: "operator",
      detail: "closed by operator wang (as etclane) (uid 998): barrier maintenance",
    });
    const snap: LaneSnapshot = {
      ...baseSnapshot(),
      state: {
        status: "closed",
        canTrade: false,
        reason: "operator",
        detail: "",
        since: NOW,
        operatorClosed: r.ctl.operatorClosed,
      },
    };
    expect(formatStatus(snap)).toMatch(
      /closed by +wang \(as etclane\) \(uid 998\) at .*: barrier maintenance/,
    );
    expect(renderState(snap, [], null)).toContain("wang (as etclane)");

    // kept across a restart with the person
    const r2 = rig({ journal: j });
    const events2: { type: string; message?: string }[] = [];
    r2.ctl.events$.subscribe((e) => events2.push(e as { type: string; message?: string }));
    await r2.ctl.start();
    expect(r2.ctl.operatorClosed).toMatchObject({ user: "etclane", sudoUser: "wang" });
    const op2 = laneRuntimeOperator({ controller: r2.ctl } as unknown as LaneRuntime);
    const lifted = await op2.openLane(asEtclane("li"));
    expect(lifted).toMatchObject({
      ok: true,
      message: expect.stringMatching(/^close lifted by operator li \(as etclane\) \(uid 998\)/),
    });
    expect(notices(events2).at(-1)).toBe("operator li (as etclane) lifted the close wang (as etclane) made");

    // wang lifting his own close, through the same account
    await op2.closeLane(asEtclane("wang"), "end of shift");
    await op2.openLane(asEtclane("wang"));
    expect(notices(events2).at(-1)).toBe("operator wang (as etclane) lifted their own close");
  });

  it("a hand settlement keeps the sudo login in its evidence", () => {
    const rec = { ...sampleRecord(7, "suspect"), outcome: "B5_MISSING", seq: 7 } as never;
    const plan = operatorSettlement(
      rec,
      { seq: 7, verdict: "not-debited", reason: "bank ticket 4711: no debit" },
      "exit",
      { name: "etclane", uid: 998, sudoUser: "wang", via: "direct" },
    );
    expect(plan.ok).toBe(true);
    // the evidence goes into the settled record's extra.settlement.evidence (src/journal), which the station receives
    expect(plan).toMatchObject({
      settlement: { evidence: { operator: "etclane", uid: 998, sudoUser: "wang", via: "direct" } },
    });
  });
});
