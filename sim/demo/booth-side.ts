/**
 * The demo's booth (docs/booth.md): the simulated desk reader (sim/reader/reader-simulator.ts) on the
 * lane's reader line, an in-process transport pair, on the same card store as the RSU simulator (a card
 * is one card over DSRC and at the booth; one ledger has the debits of both); and the simulated
 * collector (sim/booth/collector.ts), who takes the card of each stopped vehicle the booth has a case
 * for, takes that case at the booth (`booth take`), puts the card on the reader and takes it back at the
 * beep.
 */
import { firstValueFrom, Subject, type Subscription } from "rxjs";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import type { Booth } from "../../src/booth/booth.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import type { LaneRuntime } from "../../src/lane/runtime.js";
import { SimCollector } from "../booth/collector.js";
import type { CardStore } from "../card/card-store.js";
import { createReaderSimulator, type ReaderSimulator } from "../reader/reader-simulator.js";
import type { RsuSimulator } from "../rsu/rsu-simulator.js";

export interface DemoReader {
  reader: ReaderSimulator;
  /** the lane's end of the reader line (openLane's readerTransport) */
  laneEnd: Transport;
  stop(): Promise<void>;
}

/** The desk reader, listening before the lane opens its line (its default PSAM: slot 1, T=0). */
export async function startDemoReader(store: CardStore): Promise<DemoReader> {
  const pair = createTransportPair({ names: ["reader (in-process)", "reader-sim"] });
  const reader = createReaderSimulator({ transport: pair.device, store, cable: pair });
  await reader.start();
  return { reader, laneEnd: pair.lane, stop: () => reader.stop() };
}

export interface DemoCollector {
  collector: SimCollector;
  /** the booth cases the collector took for a card, by case id */
  cardsFor: ReadonlySet<string>;
  stop(): void;
}

/** Who takes the cases at the demo's booth (the control socket's user for `etc-lane booth take`). */
const DEMO_COLLECTOR = { name: "demo collector", uid: process.getuid?.() ?? 0 };

/**
 * The collector takes a stopped vehicle's card when the lane's record for that vehicle opened a booth
 * case (a stop the booth handles, a suspect to settle); the others went to the manual lane. The booth
 * follows the lane's outcomes from openLane on, so its case is open before the demo sees the record.
 * Before it puts the card on the reader the collector takes that case at the booth, as `etc-lane booth
 * take CASE` does: without it the booth would charge a card no case names on the oldest case that names
 * none (docs/booth.md §1), which is another vehicle's when an earlier stopped vehicle's card never came (a
 * LANE_CLOSED stop whose C2 the RSU never got: its driver hands no card over). `cardsFor`: the cases a
 * card was brought for (the demo's closing lines).
 */
export function startDemoCollector(
  rsu: RsuSimulator,
  reader: ReaderSimulator,
  lane: LaneRuntime,
): DemoCollector {
  const booth = lane.booth as Booth;
  const caseIds = new Map<number, string>(); // by the seq of the record that opened the case
  const cardsFor = new Set<string>();
  const records = new Map<string, CommittedRecord[]>(); // by OBU id, not yet matched to a handover
  const arrived = new Subject<void>();
  const subs: Subscription[] = [
    booth.events$.subscribe((e) => {
      if (e.type === "booth" && e.action === "opened" && e.case.seq !== null)
        caseIds.set(e.case.seq, e.case.id);
    }),
    lane.controller.outcomes$.subscribe((o) => {
      const key = o.record.obuId.toUpperCase();
      records.set(key, [...(records.get(key) ?? []), o.record]);
      arrived.next();
    }),
  ];
  /** The lane's next record for this vehicle's OBU (the RSU may see the C2 before the lane's commit). */
  const recordFor = async (vehicleId: string): Promise<CommittedRecord> => {
    const obu =
      rsu
        .vehicles()
        .find((v) => v.id === vehicleId)
        ?.obuId.toUpperCase() ?? "";
    for (;;) {
      const r = records.get(obu)?.shift();
      if (r) return r;
      await firstValueFrom(arrived); // rejects once the demo stops: the card stays with the driver
    }
  };
  /**
   * Takes the case once the booth has finished what it was on (a case is not taken while another is in
   * progress: src/booth/case-desk.ts take; a case is in progress only inside the booth's work loop,
   * src/booth/card-loop.ts asActive, which `idle` waits for); false when it is no longer queued (closed
   * meanwhile) or the booth refuses it for another reason (closed).
   */
  const takeCase = async (id: string): Promise<boolean> => {
    for (;;) {
      await booth.idle();
      const cases = booth.cases();
      if (!cases.some((c) => c.id === id)) return false;
      // another case in progress: wait for it (its status, not the words of take's refusal)
      if (cases.some((c) => c.status === "active" && c.id !== id)) {
        await new Promise<void>((r) => setImmediate(r)); // never a loop that starves the event loop
        continue;
      }
      const r = await booth.take({ id, user: DEMO_COLLECTOR });
      if (!r.ok) return false;
      cardsFor.add(id);
      return true;
    }
  };
  const collector = new SimCollector(rsu, reader, {
    takes: async ({ vehicleId }) => {
      const caseId = caseIds.get((await recordFor(vehicleId)).seq);
      return caseId === undefined ? false : { caseId };
    },
    takeCase,
  });
  return {
    collector,
    cardsFor,
    stop() {
      collector.stop();
      for (const s of subs) s.unsubscribe();
      arrived.complete();
    },
  };
}
