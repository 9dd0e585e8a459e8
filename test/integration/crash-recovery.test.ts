/**
 * A lane that dies between its C6 and the B5 (the crash window of docs/reliability.md), in-process: lane A
 * writes its debit intent and sends C6, then "dies" the way a SIGKILLed process does (nothing more reaches
 * its journal, its port closes without another byte). Lane B opens the same data directory on the same
 * line. The real SIGKILL version of this runs in test/reliability/reliability.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { filter, firstValueFrom, timeout } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { createTransportPair, type TransportPair } from "../../firmware-bridge/transport/pair.js";
import { createRsuSimulator, type RsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { LaneConfig } from "../../src/config/schema.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { expectJournalMatchesLedger, loadStatusList, ROOT } from "./harness.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function setup(
  protocol: "legacy" | "national",
  recoveryListenMs = 800,
  retransmitMs?: number,
): {
  dir: string;
  config: LaneConfig;
  pair: TransportPair;
  sim: RsuSimulator;
} {
  const dir = mkdtempSync(join(tmpdir(), "lane-crash-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = parseLaneConfig(
    {
      lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
      rsu: { port: "in-process", protocol, timing: { initTimeoutMs: 1000, initRetryMs: 200 } },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
      dataDir: join(dir, "data"),
      tariff: join(ROOT, "config/tariff.example.yaml"),
      transaction: { obuTimeoutMs: 1500, b5TimeoutMs: 600, b8TimeoutMs: 600, recoveryListenMs },
      outputs: { sink: "log" },
    },
    "test",
  );
  const pair = createTransportPair();
  const sim = createRsuSimulator({
    transport: pair.device,
    protocol,
    seed: 7,
    cable: pair,
    ...(retransmitMs !== undefined ? { timing: { retransmitMs } } : {}),
    scenario: {
      defaults: { zoneMs: 2500 },
      traffic: {
        vehicles: [{ id: "湘D00001", plate: "湘D00001", class: 1, balance: 20_000, entryStation: "0101" }],
      },
    },
  });
  cleanups.push(() => sim.stop());
  return { dir, config, pair, sim };
}

/** Lane A runs until the first lane write after its debit intent (the C6) and then dies. */
async function laneThatDiesAfterC6(
  config: LaneConfig,
  pair: TransportPair,
  sim: RsuSimulator,
): Promise<{ died: Promise<void> }> {
  const a = await openLane(config, { transport: pair.lane, outputs: { emit: () => {} }, uplink: false });
  await loadStatusList(a, []);
  let armed = false;
  let died!: () => void;
  const diedP = new Promise<void>((r) => {
    died = r;
  });
  const writeIntent = a.journal.writeIntent.bind(a.journal);
  a.journal.writeIntent = (...args: Parameters<typeof writeIntent>) => {
    const id = writeIntent(...args);
    armed = true;
    return id;
  };
  const write = pair.lane.write.bind(pair.lane);
  pair.lane.write = async (bytes: Buffer) => {
    await write(bytes);
    if (!armed) return;
    armed = false;
    pair.lane.write = write;
    // The kill: from here on nothing reaches lane A's disk, and its port closes without another byte.
    a.journal.close();
    a.audit.close();
    setImmediate(() => {
      void a.link.stop().then(() => {
        a.statusList.close();
        a.dataDirLock.release(); // the kernel drops a dead process's lock
        died();
      });
    });
  };
  await sim.start();
  await a.controller.start();
  return { died: diedP };
}

/** Lane B: the restarted process on the same data directory and line; runs until the traffic is done. */
async function restartAndDrain(
  config: LaneConfig,
  pair: TransportPair,
  sim: RsuSimulator,
  before: (b: LaneRuntime) => void = () => {},
): Promise<LaneRuntime> {
  const b = await openLane(config, { transport: pair.lane, outputs: { emit: () => {} }, uplink: false });
  cleanups.push(() => b.close());
  before(b);
  await b.controller.start();
  await firstValueFrom(
    b.controller.status$.pipe(
      filter((s) => s.status === "open"),
      timeout(15_000),
    ),
  );
  await sim.done;
  await b.controller.idle();
  return b;
}

describe.each(["legacy", "national"] as const)("lane killed between C6 and B5 (%s)", (protocol) => {
  it("the restarted lane hears the RSU repeat the B5 before its C0: a transaction with the TAC", async () => {
    // The RSU repeats its B5 500 ms apart (real ones: 120 ms) and lane B listens up to 3 s, so the
    // restarted lane is open before the last repeat even when the machine is busy with other tests.
    const { config, pair, sim } = setup(protocol, 3000, 500);
    const debited = firstValueFrom(
      sim.events$.pipe(
        filter((e) => e.type === "ledger"),
        timeout(15_000),
      ),
    );
    const { died } = await laneThatDiesAfterC6(config, pair, sim);
    await died;
    await debited; // the card paid; its B5 went to a dead port and is being repeated 120 ms apart
    const b = await restartAndDrain(config, pair, sim, (b) =>
      expect(b.journal.openIntents()).toHaveLength(1),
    );
    const recs = b.journal.list({});
    expect(recs.map((r) => `${r.kind}:${r.outcome}`)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(sim.ledger()).toHaveLength(1);
    expectJournalMatchesLedger(recs, sim.ledger());
    // the stages before the kill are kept apart from this process's clock
    expect(Object.keys(recs[0]!.stageTimes)).toEqual(expect.arrayContaining(["beforeRestart.b4In", "b5In"]));
    expect(b.journal.openIntents()).toEqual([]);
  });

  // 800: the restarted lane listens out the rest of the window; 0: it goes straight to its C0
  it.each([800, 0])(
    "the B5 is gone for good: a suspect record the station can settle, and no second debit (listen %i ms)",
    async (listenMs) => {
      const { config, pair, sim } = setup(protocol, listenMs);
      const gaveUp = firstValueFrom(
        sim.events$.pipe(
          filter((e) => e.type === "gaveUp" && e.frame === "B5"),
          timeout(15_000),
        ),
      );
      const { died } = await laneThatDiesAfterC6(config, pair, sim);
      await died;
      await gaveUp; // the RSU repeated the B5 three times to nobody
      const b = await restartAndDrain(config, pair, sim);
      const [debit, ...more] = sim.ledger();
      expect(more).toEqual([]); // the vehicle stayed in the zone after the restart and was not debited again
      const recs = b.journal.list({});
      const suspects = recs.filter((r) => r.kind === "suspect");
      expect(suspects.map((r) => r.outcome)).toEqual(["CRASH_RECOVERED"]);
      const s = suspects[0]!;
      expect([s.cardId, s.amount, s.transTime]).toEqual([debit!.cardId, debit!.amount, debit!.transTime]);
      expect(recs.filter((r) => r.kind === "transaction")).toEqual([]);
      // anything else recorded for that vehicle is a refusal to trade it again until settled
      expect(recs.filter((r) => r.kind === "stop").every((r) => r.outcome === "UNSETTLED_DEBIT")).toBe(true);
      expect(b.journal.openIntents()).toEqual([]);
    },
  );
});
