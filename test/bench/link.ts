/**
 * The RSU link alone, on the B2 -> C1 path (docs/link.md "Cost"): bytes of a B2 handed to the link ->
 * deframe, decode, dedupe check, delivery on incoming$ -> the application's C1 -> encoded bytes handed
 * to the transport. A synchronous in-memory transport, a silent logger, distinct OBUs (no repeats), and
 * the application replying inside its incoming$ subscriber, so the figure is the link's own cost.
 */
import { BehaviorSubject, Subject } from "rxjs";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { type Dialect, defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import { encodeLegacy } from "../../firmware-bridge/framing/legacy.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";
import { RsuLink } from "../../firmware-bridge/link/rsu-link.js";
import type { Transport, TransportState, TransportStatus } from "../../firmware-bridge/transport/types.js";
import { type Benchmark, type BenchResult, nowUs, percentiles } from "./harness.js";

class MemoryTransport implements Transport {
  readonly name = "memory:rsu";
  readonly data = new Subject<Buffer>();
  readonly stateS = new BehaviorSubject<TransportState>({ status: "closed" });
  readonly data$ = this.data.asObservable();
  readonly state$ = this.stateS.asObservable();
  /** clock (µs) of the last write, i.e. "reply handed to the port" */
  lastWriteUs = 0;
  get status(): TransportStatus {
    return this.stateS.value.status;
  }
  async open(): Promise<void> {
    this.stateS.next({ status: "open" });
  }
  write(_bytes: Buffer): Promise<void> {
    this.lastWriteUs = nowUs();
    return Promise.resolve();
  }
  async close(): Promise<void> {
    this.stateS.next({ status: "closed" });
  }
}

async function measure(
  dialect: Dialect,
  n: number,
): Promise<{ us: number[]; lateAnswers: number; duplicates: number }> {
  const t = new MemoryTransport();
  const link = new RsuLink({ transport: t, dialect });
  const c1 = { type: "C1", obuId: "00000000", obuDivFactor: "1122334455667788" } as Frame & { obuId: string };
  link.incoming$.subscribe((f) => {
    c1.obuId = (f.frame as { obuId: string }).obuId;
    void f.reply(c1);
  });
  await link.start();
  const legacy = dialect.variant === "legacy";
  // 4099 distinct B2 frames built up front (OBU id = index), sequence numbers as the RSU cycles them;
  // 4099 is a multiple of neither 8 nor 9, so no frame comes back under its own RSCTL/SEQ (no repeats).
  const frames: Buffer[] = [];
  for (let i = 0; i < 4099; i++) {
    const data = Buffer.from(`b2${i.toString(16).padStart(8, "0")}00${"11".repeat(30)}`, "hex");
    frames.push(legacy ? encodeLegacy(((i % 8) << 4) | 8, data) : encodeNational((i % 9) + 1, data));
  }
  const us: number[] = [];
  for (let i = 0; i < n; i++) {
    const raw = frames[i % frames.length] as Buffer;
    const t0 = nowUs();
    t.data.next(raw);
    us.push(t.lastWriteUs - t0);
    // let the write promises settle now and then, as the event loop would between frames
    if (i % 256 === 255) await new Promise((r) => setImmediate(r));
  }
  const late = Object.values(link.counters.lateAnswers).reduce((a, b) => a + b, 0);
  const duplicates = link.counters.duplicates;
  await link.stop();
  return { us, lateAnswers: late, duplicates };
}

export const linkBench: Benchmark = {
  name: "link",
  title: "RSU link alone: B2 bytes in -> C1 bytes handed to the transport, both variants",
  async run(ctx) {
    const out: BenchResult[] = [];
    const n = Math.max(20_000, Math.round(200_000 * ctx.scale));
    for (const variant of ["legacy", "national"] as const) {
      const d = defaultDialect(variant);
      await measure(d, Math.min(n, 20_000)); // warm-up
      const { us, lateAnswers, duplicates } = await measure(d, n);
      const p = percentiles(us);
      out.push({
        name: `link.${variant}.b2-c1`,
        unit: "µs",
        figures: { p50: p.p50, p99: p.p99, max: p.max, mean: p.mean, frames: n, duplicates, lateAnswers },
        notes: "in-memory transport, silent logger, application replies inside its subscriber",
      });
    }
    return out;
  },
};
