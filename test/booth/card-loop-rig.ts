/**
 * A CardLoop (src/booth/card-loop.ts) over a fake reader and a booth context of fakes, for the tests of
 * its card watch (card-loop.test.ts) and of its reader check at link-up (reader-fit.test.ts).
 */
import { silentLogger } from "../../firmware-bridge/log.js";
import type { CardReader } from "../../firmware-bridge/reader/card-reader.js";
import type { CardLoopDeps } from "../../src/booth/card-loop.js";
import type { BoothContext } from "../../src/booth/context.js";

/** The loop's dependencies: `shown` gets "waiting" when the desk shows its waiting screen. */
export function cardLoopDeps(
  reader: CardReader,
  ctxOver: Partial<Record<keyof BoothContext, unknown>>,
  shown: string[],
): CardLoopDeps {
  const ctx = {
    reader,
    now: () => 0,
    clock: { waitMs: 0 },
    lineBytes: () => null,
    psam: { invalidate: () => undefined },
    audit: () => undefined,
    show: () => undefined,
    readerPort: "test",
    options: {},
    ...ctxOver,
  } as unknown as BoothContext;
  return {
    ctx,
    reader,
    wakeup: { wake: () => undefined } as unknown as CardLoopDeps["wakeup"],
    desk: {
      size: 0,
      showWaiting: () => shown.push("waiting"),
      takenVehicleClass: () => undefined,
    } as unknown as CardLoopDeps["desk"],
    recoveries: { next: () => undefined } as unknown as CardLoopDeps["recoveries"],
    log: silentLogger,
  };
}
