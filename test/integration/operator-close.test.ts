/**
 * An operator's close on the real pieces (openLane: journal, link, simulated RSU over the in-process pair):
 * the lane closes and switches its antenna off, the close is kept in the journal, a restarted lane on the
 * same data directory initialises the RSU and stays closed, and openLane lifts it. `etc-lane lane close|open`
 * with no lane running (a child process, the real data-directory lock) set what the next lane starts with.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { filter, firstValueFrom, timeout } from "rxjs";
import { afterEach, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { createRsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { auditDir, readTrail } from "../../src/audit/index.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { LaneStatus } from "../../src/lane/controller.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import type { LaneOutputEvent } from "../../src/outputs/outputs.js";
import { verifyLane } from "../audit/helpers.js";
import { runCli } from "../helpers/cli.js";
import { loadStatusList, ROOT } from "./harness.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

const wang = { name: "wang", uid: 1000 };

async function laneOn(dataDir: string): Promise<{ lane: LaneRuntime; outputs: LaneOutputEvent[] }> {
  const pair = createTransportPair();
  const config = parseLaneConfig(
    {
      lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
      rsu: { port: "in-process", protocol: "legacy", timing: { initTimeoutMs: 1000, initRetryMs: 200 } },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
      dataDir,
      tariff: join(ROOT, "config/tariff.example.yaml"),
      outputs: { sink: "log" },
    },
    "test",
  );
  const outputs: LaneOutputEvent[] = [];
  const lane = await openLane(config, {
    transport: pair.lane,
    outputs: { emit: (e) => outputs.push(e) },
    uplink: false,
  });
  cleanups.push(() => lane.close());
  if (lane.statusList.info().versions.full === null) await loadStatusList(lane, []);
  const sim = createRsuSimulator({
    transport: pair.device,
    protocol: "legacy",
    seed: 7,
    cable: pair,
    scenario: {},
  });
  cleanups.push(() => sim.stop());
  await sim.start();
  await lane.controller.start();
  return { lane, outputs };
}

const status = (lane: LaneRuntime, pred: (s: LaneStatus) => boolean): Promise<LaneStatus> =>
  firstValueFrom(lane.controller.status$.pipe(filter(pred), timeout(15_000)));

it("an operator's close survives a restart until openLane lifts it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lane-operator-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  const dataDir = join(dir, "data");
  const a = await laneOn(dataDir);
  await status(a.lane, (s) => s.status === "open");
  expect(await a.lane.controller.closeLane(wang, "barrier maintenance")).toMatchObject({ ok: true });
  expect(a.lane.controller.status).toMatchObject({ status: "closed", reason: "operator" });
  expect(a.outputs.filter((o) => o.type === "lane").map((o) => (o.type === "lane" ? o.status : ""))).toEqual([
    "open",
    "closed",
  ]);
  await a.lane.close();
  // the restarted lane: the RSU answers C0 (its session is ready), the lane stays closed by the operator
  const b = await laneOn(dataDir);
  await firstValueFrom(
    b.lane.link.incoming$.pipe(
      filter((f) => f.frame.type === "B0"),
      timeout(15_000),
    ),
  );
  await b.lane.controller.idle();
  expect(b.lane.controller.status).toMatchObject({ status: "closed", reason: "operator" });
  expect(b.lane.controller.operatorClosed).toMatchObject({ user: "wang", reason: "barrier maintenance" });
  expect(await b.lane.controller.openLane(wang)).toMatchObject({ ok: true });
  await status(b.lane, (s) => s.status === "open");
  expect(b.lane.journal.readSetting("lane.operator-close")).toBeNull();
});

it("etc-lane lane close|open with no lane running: the setting the next lane starts with, in the trail", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lane-operator-cli-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  const dataDir = join(dir, "data");
  const a = await laneOn(dataDir); // a lane has run here: its journal and trail
  await status(a.lane, (s) => s.status === "open");
  await a.lane.close();
  const me = userInfo();

  // the child process takes the data-directory lock itself and writes the close the lane reads at start
  const c = await runCli("etc-lane", [
    "lane",
    "close",
    "--reason",
    "barrier maintenance",
    "--data-dir",
    dataDir,
  ]);
  expect([c.code, c.stderr]).toEqual([0, ""]);
  expect(c.stdout).toBe(
    `lane closed by operator ${me.username} (uid ${me.uid}): barrier maintenance; it starts closed until etc-lane lane open [data directory (no lane running)]\n`,
  );
  const b = await laneOn(dataDir);
  await firstValueFrom(
    b.lane.link.incoming$.pipe(
      filter((f) => f.frame.type === "B0"),
      timeout(15_000),
    ),
  );
  await b.lane.controller.idle();
  expect(b.lane.controller.status).toMatchObject({ status: "closed", reason: "operator" });
  expect(b.lane.controller.operatorClosed).toMatchObject({
    user: me.username,
    uid: me.uid,
    reason: "barrier maintenance",
  });
  await b.lane.close();

  const o = await runCli("etc-lane", ["lane", "open", "--json", "--data-dir", dataDir]);
  expect(o.code).toBe(0);
  expect(JSON.parse(o.stdout)).toMatchObject({ via: "direct", ok: true, data: { closedBy: me.username } });
  const d = await laneOn(dataDir);
  await status(d.lane, (s) => s.status === "open");
  expect(d.lane.controller.operatorClosed).toBeNull();
  await d.lane.close();

  const ops = [...readTrail(auditDir(dataDir))]
    .map((x) => x.entry)
    .filter((e) => e.type.startsWith("operator.lane."));
  expect(ops.map((e) => [e.type, e.data])).toEqual([
    [
      "operator.lane.close",
      expect.objectContaining({
        user: me.username,
        uid: me.uid,
        via: "direct",
        ok: true,
        reason: "barrier maintenance",
      }),
    ],
    ["operator.lane.open", expect.objectContaining({ user: me.username, via: "direct", ok: true })],
  ]);
  expect(verifyLane(dataDir).problems).toEqual([]);
});
