/**
 * The lane's close and the status-list applies under way (src/lane/status-list-applies.ts): the uplink is
 * stopped, the list closed before the audit trail (not waiting for a full list's build), and each apply's
 * outcome recorded before the trail closes, also when closing the list throws. An apply the close abandons
 * (E512), the uplink's or an operator's, is no refusal, with or without the uplink applying. A real lane
 * (openLane) against the station simulator offering one full list; the test holds the list's apply: a
 * worker job cannot be paused, so it holds the call to the real cache (its start, or its answer) until the
 * lane's close closes the list.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { type StationHandle, startStation } from "../../sim/station/station.js";
import { parseLaneConfig } from "../../src/config/index.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { entries, exitLaneConfig, tempDir } from "../audit/helpers.js";
import { full, sampleRows } from "../status-list/helpers.js";

let dir = "";
let cleanup = (): void => {};
let station: StationHandle | null = null;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-lane-sl-close-"));
});
afterEach(async () => {
  await station?.close();
  station = null;
  cleanup();
});

/** A version a day before now (yyyyMMddhhmm, UTC): not ahead of the lane's clock. */
const VERSION = new Date(Date.now() - 86_400_000).toISOString().replace(/[-T:]/g, "").slice(0, 12);
const BUNDLE = `full-${VERSION}.bundle`;

/** The lane, its uplink polling the station simulator offering one full list (or no uplink). */
async function lane(withUplink: boolean): Promise<LaneRuntime> {
  const lists = join(dir, "lists");
  mkdirSync(lists);
  writeFileSync(join(lists, BUNDLE), full(VERSION, sampleRows(20)));
  station = await startStation({ statusListDir: lists });
  const base = exitLaneConfig(dir, join(dir, "data"));
  const c = withUplink
    ? parseLaneConfig(
        {
          lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
          rsu: { port: "in-process", protocol: "legacy" },
          statusList: { publicKey: base.statusList.publicKey },
          station: { url: station.url },
          dataDir: base.dataDir,
          tariff: base.tariff,
          outputs: { sink: "log" },
        },
        "lane.yaml",
        dir,
      )
    : base;
  return openLane(c, { transport: createTransportPair().lane, uplink: withUplink });
}

/**
 * The lane's list holds each apply until the lane's close closes it: `held: "start"` calls the real cache
 * only then (the list closed: E512, the apply abandoned), `held: "answer"` calls it at once and gives its
 * answer only then (the apply done as the close begins). `closeThrows`: closing the list throws after it
 * closed. `called` resolves at the first apply, `done` once the real cache answered it.
 */
function holdApplies(rt: LaneRuntime, held: "start" | "answer", closeThrows = false) {
  const sl = rt.statusList;
  const apply = sl.applyBundle.bind(sl);
  const close = sl.close.bind(sl);
  let open!: () => void;
  const closing = new Promise<void>((r) => {
    open = r;
  });
  let onCall!: () => void;
  const called = new Promise<void>((r) => {
    onCall = r;
  });
  const answers: Promise<unknown>[] = [];
  sl.applyBundle = (input, opts) => {
    onCall();
    if (held === "start") return closing.then(() => apply(input, opts));
    const answer = apply(input, opts);
    answers.push(answer.catch(() => undefined));
    return answer.then(async (r) => {
      await closing;
      return r;
    });
  };
  sl.close = async () => {
    if (!closeThrows) open();
    await close();
    if (!closeThrows) return;
    open();
    throw new Error("the list's database failed to close");
  };
  return { called, done: () => Promise.all(answers) };
}

it.each([
  ["the uplink applying the station's list", true],
  ["no uplink", false],
])("an operator's import the lane's close abandons is no refusal (%s)", async (_, withUplink) => {
  const rt = await lane(withUplink);
  const h = holdApplies(rt, "start");
  if (withUplink) await h.called; // the uplink's apply, held
  const imported = rt.applyStatusList(full(VERSION, sampleRows(30, 1)), "operator");
  const outcome = imported.then(
    () => "applied",
    (e: { code?: string }) => e.code,
  );
  await rt.close();
  expect(await outcome).toBe("E512_CLOSED");
  const types = entries(join(dir, "data")).map((e) => e.type);
  expect(types.filter((t) => t.startsWith("status-list.") && t !== "status-list.loaded")).toEqual([]);
  expect(types).toContain("lane.stop");
});

it("the uplink's apply the close abandons is no failure: no trail entry, its download kept for the next start", async () => {
  const rt = await lane(true);
  const h = holdApplies(rt, "start");
  await h.called;
  expect(rt.uplink?.status().statusList?.applying).toBe(BUNDLE);
  await rt.close();
  const types = entries(join(dir, "data")).map((e) => e.type);
  expect(types.filter((t) => t.startsWith("status-list.") && t !== "status-list.loaded")).toEqual([]);
  expect(readdirSync(join(dir, "data", "downloads")).sort()).toEqual([
    `${BUNDLE}.download`,
    `${BUNDLE}.download.json`,
  ]);
});

it.each([
  ["", false],
  [", also when closing the list throws", true],
])("the uplink's apply done as the close begins is recorded before the trail closes%s", async (_, throws) => {
  const rt = await lane(true);
  const h = holdApplies(rt, "answer", throws);
  // what reaches the trail, and when its close begins
  const order: string[] = [];
  const append = rt.audit.append.bind(rt.audit);
  rt.audit.append = (ev) => {
    if (ev.type.startsWith("status-list.")) order.push(ev.type);
    return append(ev);
  };
  const closeTrail = rt.audit.close.bind(rt.audit);
  rt.audit.close = () => {
    order.push("trail closing");
    return closeTrail();
  };
  await h.called;
  await h.done();
  await rt.close();
  expect(order).toEqual(["status-list.applied", "trail closing"]);
  const applied = entries(join(dir, "data")).filter((e) => e.type === "status-list.applied");
  expect(applied.map((e) => e.data)).toEqual([
    expect.objectContaining({ bundle: BUNDLE, source: "station", versions: { full: VERSION, delta: null } }),
  ]);
});
