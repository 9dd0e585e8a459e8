/**
 * A lane that dies with a debit in flight (the crash windows of docs/reliability.md), in-process: lane A
 * runs until the moment of its death and then dies the way a SIGKILLed process does: in that same
 * synchronous step its line is cut (nothing more reaches it, nothing more leaves it) and its journal is
 * closed (nothing more reaches its disk). Lane B opens the same data directory on the same line.
 * The two moments:
 * - after C6: the intent is written and the C6 handed to the line, the B5 not yet received;
 * - after a good B5's C1, before its commit: the C1 is handed to the line (the RSU is answered and does
 *   not repeat its B5), the record is not written.
 * The real SIGKILL version of this runs in test/reliability/system/kill-run.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { filter, firstValueFrom, timeout } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { createTransportPair, type TransportPair } from "../../firmware-bridge/transport/pair.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { createRsuSimulator, type RsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { LaneConfig } from "../../src/config/schema.js";
import type { NewLaneRecord } from "../../src/journal/types.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { expectJournalMatchesLedger, loadStatusList, ROOT } from "./harness.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** `retransmitMs`: the simulated RSU repeats an unanswered frame ten times this far apart (default: 3, 120 ms). */
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
  cleanups.push(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
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
    ...(retransmitMs !== undefined ? { timing: { retransmitMs, retries: 10 } } : {}),
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

/**
 * Lane A's end of the line. `cut()` is the kill as the line sees it, at once and for good: bytes already
 * handed over are on their way, nothing more arrives (a frame the RSU sends later is not read by this
 * process, whatever its event loop still has queued) and nothing more leaves.
 */
function cuttable(inner: Transport): Transport & { cut(): void } {
  let dead = false;
  const killed = (): Promise<never> => Promise.reject(new Error("the process is dead"));
  return {
    name: inner.name,
    data$: inner.data$.pipe(filter(() => !dead)),
    state$: inner.state$,
    get status() {
      return inner.status;
    },
    open: () => (dead ? killed() : inner.open()),
    close: () => inner.close(),
    write: (bytes) => (dead ? killed() : inner.write(bytes)),
    cut() {
      dead = true;
    },
  };
}

type DeathPoint = "after-c6" | "before-commit";

/**
 * Lane A runs until its death point, then dies: its line is cut and its journal closed in the same
 * synchronous step, its port closed and its data-directory lock released (the kernel's part of a death)
 * once it is over. Resolves `died` then.
 */
async function laneThatDies(
  config: LaneConfig,
  pair: TransportPair,
  sim: RsuSimulator,
  at: DeathPoint,
): Promise<{ died: Promise<void> }> {
  const line = cuttable(pair.lane);
  const a = await openLane(config, { transport: line, outputs: { emit: () => {} }, uplink: false });
  await loadStatusList(a, []);
  let died!: () => void;
  const diedP = new Promise<void>((r) => {
    died = r;
  });
  let dead = false;
  const kill = (): void => {
    dead = true;
    line.cut();
    a.journal.close();
    a.audit.close();
    setImmediate(() => {
      void a.link.stop().then(() => {
        a.statusList.close();
        a.dataDirLock.release();
        died();
      });
    });
  };
  if (at === "after-c6") {
    // the first line write after the debit intent is the C6: the kill follows it in the same step
    let armed = false;
    const writeIntent = a.journal.writeIntent.bind(a.journal);
    a.journal.writeIntent = (...args: Parameters<typeof writeIntent>) => {
      const id = writeIntent(...args);
      armed = true;
      return id;
    };
    const write = line.write;
    line.write = (bytes: Buffer) => {
      const p = write(bytes);
      if (armed && !dead) kill();
      return p;
    };
  } else {
    // the effect runner hands the C1 to the line before it calls commit: the kill is that call
    const commit = a.journal.commit.bind(a.journal);
    a.journal.commit = (rec: NewLaneRecord, opts?: { intentId?: number | undefined }) => {
      if (rec.kind === "transaction" && !dead) kill();
      return commit(rec, opts);
    };
  }
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
    // The RSU repeats its B5 ten times 500 ms apart (real ones: three, 120 ms apart) and lane B listens
    // up to 3 s: the restarted lane hears a repeat if it opens within 5 s of the kill, however busy the
    // machine is with other tests.
    const { config, pair, sim } = setup(protocol, 3000, 500);
    const debited = firstValueFrom(
      sim.events$.pipe(
        filter((e) => e.type === "ledger"),
        timeout(15_000),
      ),
    );
    const { died } = await laneThatDies(config, pair, sim, "after-c6");
    await died;
    await debited; // the card paid; its B5 went to a dead process and is being repeated
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
    expect(b.controller.guards.isHeld(recs[0]!.cardId!)).toBe(false);
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
      const { died } = await laneThatDies(config, pair, sim, "after-c6");
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

describe.each(["legacy", "national"] as const)(
  "lane killed between a B5's C1 and its commit (%s)",
  (protocol) => {
    it("the restarted lane records the transaction, TAC included, from the B5 the intent kept", async () => {
      const { config, pair, sim } = setup(protocol);
      // the RSU took the C1: the vehicle traded as far as it knows, and it will not repeat the B5
      const traded = firstValueFrom(
        sim.events$.pipe(
          filter((e) => e.type === "ended"),
          timeout(15_000),
        ),
      );
      const { died } = await laneThatDies(config, pair, sim, "before-commit");
      await died;
      expect(await traded).toMatchObject({ outcome: "traded" });
      const b = await restartAndDrain(config, pair, sim, (b) => {
        expect(b.journal.list({})).toEqual([]);
        expect(b.journal.openIntents().map((i) => JSON.parse(i.payload).answer?.kind)).toEqual(["trade"]);
      });
      const recs = b.journal.list({});
      expect(recs.map((r) => `${r.kind}:${r.outcome}`)).toEqual(["transaction:EXIT_DEBIT"]);
      expect(recs[0]!.extra).toMatchObject({ recoveredFrom: "intent" });
      expect(sim.ledger()).toHaveLength(1);
      expectJournalMatchesLedger(recs, sim.ledger());
      expect(b.journal.openIntents()).toEqual([]);
      expect(b.controller.guards.isHeld(recs[0]!.cardId!)).toBe(false);
    });
  },
);
