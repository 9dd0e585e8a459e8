/**
 * The simulated booth reader in its own process (./reader-process.ts), on its own pseudo-terminal, its
 * line paced to a baud rate (sim/bench/paced-line.ts), with `cards` stored-value cards that entered at
 * 4301-0101. The parent puts a card on the reader by IPC; the child takes it off when the lane beeps.
 * For the booth benchmark: the card and PSAM crypto must not share the lane's event loop.
 */
import { openPty } from "../../firmware-bridge/transport/pty.js";
import { pacedLine } from "../bench/paced-line.js";
import { CardStore } from "../card/card-store.js";
import { createReaderSimulator } from "../reader/reader-simulator.js";

export interface ReaderChildPlan {
  cards: number;
  baud: number;
  seed: number;
}

export type ReaderChildToParent =
  | { type: "ready"; lanePath: string }
  | { type: "signal"; led: string }
  | { type: "line"; rx: number; tx: number }
  | { type: "error"; message: string };

export type ParentToReaderChild =
  | { type: "plan"; plan: ReaderChildPlan }
  | { type: "present"; cardId: string }
  | { type: "line?" }
  | { type: "stop" };

export const benchCardId = (i: number): string => `4301220000${String(i + 1).padStart(10, "0")}`;

function send(m: ReaderChildToParent): void {
  process.send?.(m);
}

async function main(plan: ReaderChildPlan): Promise<void> {
  const store = new CardStore({ seed: plan.seed });
  const entered = Math.floor(Date.now() / 1000) - 3600 + 8 * 3600;
  for (let i = 0; i < plan.cards; i++)
    store.fromSpec({
      cardId: benchCardId(i),
      province: "湖南",
      balance: 1_000_000,
      record0019: { network: "4301", station: "0101", lane: 1, time: entered, vehicleClass: 1, status: 3 },
    });
  const pty = await openPty();
  const line = pacedLine(pty.device, plan.baud);
  const sim = createReaderSimulator({ transport: line, store });
  sim.events$.subscribe((e) => {
    if (e.type === "signal" && e.led) {
      if (sim.cardInField) sim.remove("the collector took it back");
      send({ type: "signal", led: e.led });
    }
  });
  await sim.start();
  send({ type: "ready", lanePath: pty.lanePath });
  await new Promise<void>((resolve) => {
    process.on("message", (m: ParentToReaderChild) => {
      if (m.type === "present") sim.present(m.cardId);
      else if (m.type === "line?") send({ type: "line", ...line.bytes });
      else if (m.type === "stop") resolve();
    });
  });
  await sim.stop();
  await pty.close();
}

process.once("message", (m: ParentToReaderChild) => {
  if (m.type !== "plan") return;
  main(m.plan).then(
    () => process.exit(0),
    (e: unknown) => {
      send({ type: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      process.exit(1);
    },
  );
});
