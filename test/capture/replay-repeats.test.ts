/**
 * `etc-sim replay` (sim/replay/replay.ts) on captures whose frames arrived in pieces: an RSU repeat read
 * in several chunks is still a repeat, a repeat merged with the frame the RSU sent right after it is
 * left out without that frame, and the lane's frames are deframed with the limits the capture recorded.
 * The captures are written as the lane writes them (a capturing transport on an in-process pair), on a
 * capture clock moved by hand.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { capturingTransport } from "../../firmware-bridge/capture/capture-transport.js";
import { CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import { readCapture } from "../../firmware-bridge/capture/read-capture.js";
import { encodeFrame } from "../../firmware-bridge/frames/catalogue.js";
import { defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import { createDeframer } from "../../firmware-bridge/framing/index.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { CaptureReplay, type ReplayScript, replayScript } from "../../sim/replay/replay.js";
import { DEFAULT_IDENTITY, heartbeatFrame } from "../../sim/rsu/rsu-frames.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
});

/** The frames of a recording in `protocol`: the RSU's f and g, the lane's C4 (answering f) and ACK (g). */
function framesOf(protocol: "legacy" | "national") {
  const dialect = defaultDialect(protocol);
  // a national C0's PLLChannelID is 1 or 2 (docs/simulator.md)
  const heartbeat = heartbeatFrame(dialect, DEFAULT_IDENTITY, {
    pllChannelId: protocol === "legacy" ? 0 : 1,
    txPower: 21,
  });
  return {
    dialect,
    /** the heartbeat's type: legacy B2, national B1 */
    hb: protocol === "legacy" ? "B2" : "B1",
    f: encodeFrame(heartbeat, 0x08, dialect),
    g: encodeFrame(heartbeat, 0x18, dialect),
    c4: encodeFrame({ type: "C4", controlType: 1 }, 0x80, dialect),
    ack: encodeFrame({ type: "ACK" }, 0x81, dialect),
  };
}

type Step = { rsu: Buffer } | { lane: Buffer } | { ms: number };

/** The end of a recording: the lane answers f with C4 10 ms on, then the RSU sends g, answered with ACK. */
const answeredThenG = ({ c4, g, ack }: ReturnType<typeof framesOf>): Step[] => [
  { ms: 10 },
  { lane: c4 },
  { ms: 10 },
  { rsu: g },
  { ms: 5 },
  { lane: ack },
];

/**
 * A capture of the port "rsu", taken by the lane: `rsu` bytes are what it read (each its own read),
 * `lane` bytes what it wrote, `ms` moves the capture's clock.
 */
async function capture(steps: Step[], description: string) {
  const dir = mkdtempSync(join(tmpdir(), "replay-repeats-"));
  dirs.push(dir);
  let mono = 1000;
  const writer = new CaptureWriter({ dir, prefix: "t", now: () => mono });
  const pair = createTransportPair();
  const port = capturingTransport(pair.lane, writer, "rsu", description);
  await port.open();
  await pair.device.open();
  for (const s of steps) {
    if ("ms" in s) mono += s.ms;
    else if ("lane" in s) await port.write(s.lane);
    else {
      await pair.device.write(s.rsu);
      // a later event-loop turn: the lane has read it (one record)
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  writer.close();
  return readCapture(readdirSync(dir).map((x) => join(dir, x)));
}

/**
 * Plays `script` to a lane that answers every frame it reads, as the lane's link does
 * (firmware-bridge/link/answer-cache.ts): `f` (and every repeat of it) with C4, `g` with ACK.
 */
async function play(
  script: ReplayScript,
  { dialect, f, g, c4, ack }: ReturnType<typeof framesOf>,
  /** the lane leaves the first `silentF` copies of f it reads unanswered (a lane slow to answer) */
  silentF = 0,
) {
  const pair = createTransportPair();
  await pair.lane.open();
  const deframer = createDeframer(dialect.variant);
  const read: string[] = [];
  pair.lane.data$.subscribe((b) => {
    for (const ev of deframer.push(b, 0)) {
      if (ev.kind !== "frame") continue;
      read.push(ev.frame.raw.equals(f) ? "f" : ev.frame.raw.equals(g) ? "g" : "other");
      if (ev.frame.raw.equals(f) && read.filter((x) => x === "f").length <= silentF) continue;
      void pair.lane.write(ev.frame.raw.equals(g) ? ack : c4);
    }
  });
  const replay = new CaptureReplay({ transport: pair.device, dialect, script, speed: 1000, waitMs: 300 });
  const events: string[] = [];
  replay.events$.subscribe((e) => {
    if (e.type === "sent") events.push(`sent ${e.step} ${e.frames.join(" ")}`.trim());
    else if (e.type === "skipped") events.push(`skipped ${e.step} ${e.frames.join(" ")} (${e.answer})`);
    else if (e.type === "diverged") events.push(`diverged: ${e.message}`);
  });
  await replay.start();
  const report = await replay.run();
  await replay.stop();
  return { events, report, read };
}

describe.each(["legacy", "national"] as const)(
  "an RSU repeat the lane read in several chunks (%s)",
  (protocol) => {
    const frames = framesOf(protocol);
    const { dialect, hb, f, g } = frames;
    const description = `etc-lane test rsu port protocol=${protocol}`;
    it("is recognised across the steps it arrived in and left out whole once the lane under test answered", async () => {
      // A serial port hands a frame over in several reads, here 5 ms apart (each its own step). The RSU sent
      // f in three reads, repeated it 120 ms later, again in three reads, as the recorded lane had not
      // answered; the lane answered with C4; then g, answered with ACK.
      const third = Math.floor(f.length / 3);
      const pieces = [f.subarray(0, third), f.subarray(third, 2 * third), f.subarray(2 * third)];
      const split = pieces.flatMap((p, i): Step[] => (i === 0 ? [{ rsu: p }] : [{ ms: 5 }, { rsu: p }]));
      const cap = await capture([...split, { ms: 120 }, ...split, ...answeredThenG(frames)], description);
      const script = replayScript(cap, dialect);
      expect(
        script.steps.map((st) => ({
          bytes: st.bytes.length,
          after: st.after.map((a) => a.type),
          repeat: st.repeat === true,
        })),
      ).toEqual([
        ...pieces.map((p) => ({ bytes: p.length, after: [], repeat: false })),
        ...pieces.map((p) => ({ bytes: p.length, after: [], repeat: true })),
        { bytes: g.length, after: ["C4"], repeat: false },
      ]);
      expect(script.trailing.map((a) => a.type)).toEqual(["ACK"]);

      // The lane under test answers f as soon as its last piece is in: the repeat is left out, in all
      // three steps, and the lane does not send C4 a second time.
      const { events, report, read } = await play(script, frames);
      expect(events).toEqual(["sent 0", "sent 1", `sent 2 ${hb}`, `skipped 3 ${hb} (C4)`, `sent 6 ${hb}`]);
      expect(read).toEqual(["f", "g"]);
      expect(report.divergences).toEqual([]);
      expect(report).toMatchObject({ matched: 2, expected: 2 });
    });
  },
);

describe.each(["legacy", "national"] as const)("a repeat of a repeat (%s)", (protocol) => {
  const frames = framesOf(protocol);
  const { dialect, hb, f } = frames;
  const description = `etc-lane test rsu port protocol=${protocol}`;
  // second-round review: a copy starting in the read where the copy it repeats ended was judged against
  // that copy (one step: "handed over together") and went out alone, after the copy was left out
  it("starting in the read where the copy before it ended: left out with that copy", async () => {
    // f; 120 ms later its first repeat in two reads, the second of which also holds a second repeat whole;
    // the recorded lane answered then; then g
    const half = Math.floor(f.length / 2);
    const cap = await capture(
      [
        { rsu: f },
        { ms: 120 },
        { rsu: f.subarray(0, half) },
        { ms: 5 },
        { rsu: Buffer.concat([f.subarray(half), f]) },
        ...answeredThenG(frames),
      ],
      description,
    );
    const script = replayScript(cap, dialect);
    expect(script.steps.map((st) => st.repeat === true)).toEqual([false, true, true, false]);
    const ids = script.steps.flatMap((st) => (st.repeats ?? []).map((r) => r.id));
    expect(ids).toHaveLength(3); // the first repeat's two pieces and the second repeat
    expect(new Set(ids).size).toBe(1);
    const { events, report, read } = await play(script, frames);
    expect(events).toEqual([`sent 0 ${hb}`, `skipped 1 ${hb} (C4)`, `sent 3 ${hb}`]);
    expect(read).toEqual(["f", "g"]);
    expect(report.divergences).toEqual([]);
  });
});

describe.each(["legacy", "national"] as const)("repeats each in a read of its own (%s)", (protocol) => {
  const frames = framesOf(protocol);
  const { dialect, hb, f } = frames;
  const description = `etc-lane test rsu port protocol=${protocol}`;
  // third review: a chain of repeats sharing one decision sent the second repeat, once the lane under
  // test had answered the first, as the first had gone out: the lane answered again
  it("each is judged when it comes up: the first goes out to a lane that has not answered, the second not once it has", async () => {
    // f, repeated 120 ms and 240 ms later (each in a read of its own); the recorded lane answered after
    // the second repeat; then g
    const cap = await capture(
      [{ rsu: f }, { ms: 120 }, { rsu: f }, { ms: 120 }, { rsu: f }, ...answeredThenG(frames)],
      description,
    );
    const script = replayScript(cap, dialect);
    expect(script.steps.map((st) => st.repeat === true)).toEqual([false, true, true, false]);
    expect(new Set(script.steps.flatMap((st) => (st.repeats ?? []).map((r) => r.id))).size).toBe(2);
    // the lane under test answers only the second f it reads (the first repeat)
    const { events, report, read } = await play(script, frames, 1);
    expect(events).toEqual([`sent 0 ${hb}`, `sent 1 ${hb}`, `skipped 2 ${hb} (C4)`, `sent 3 ${hb}`]);
    expect(read).toEqual(["f", "f", "g"]);
    expect(report.divergences).toEqual([]);
  });
});

describe.each(["legacy", "national"] as const)(
  "an RSU repeat merged with the frame the RSU sent right after it (%s)",
  (protocol) => {
    const frames = framesOf(protocol);
    const { dialect, hb, f, g, c4, ack } = frames;
    const description = `etc-lane test rsu port protocol=${protocol}`;
    it("is left out without that frame", async () => {
      // f; 120 ms later its repeat and, less than 1 ms after it (one step, one write), g; the recorded lane
      // answered both then.
      const cap = await capture(
        [{ rsu: f }, { ms: 120 }, { rsu: f }, { rsu: g }, { ms: 10 }, { lane: c4 }, { lane: ack }],
        description,
      );
      const script = replayScript(cap, dialect);
      expect(script.steps).toHaveLength(2);
      expect(script.steps[1]).toMatchObject({
        bytes: Buffer.concat([f, g]),
        repeats: [{ from: 0, to: f.length, frame: hb }],
      });
      expect(script.steps[1]?.repeat).toBeUndefined();

      // The lane under test answered f at once: the repeat's bytes are left out, g goes out and is answered.
      const { events, report, read } = await play(script, frames);
      expect(events).toEqual([`sent 0 ${hb}`, `skipped 1 ${hb} (C4)`, `sent 1 ${hb}`]);
      expect(read).toEqual(["f", "g"]);
      expect(report.divergences).toEqual([]);
      expect(report).toMatchObject({ matched: 2, expected: 2 });
    });

    it("goes out with it when the lane under test has not answered yet, as the recorded RSU sent it", async () => {
      // as above, but the lane under test answers nothing before the step: the step goes out whole
      const cap = await capture(
        [{ rsu: f }, { ms: 120 }, { rsu: f }, { rsu: g }, { ms: 10 }, { lane: c4 }],
        description,
      );
      const pair = createTransportPair();
      await pair.lane.open();
      const received: Buffer[] = [];
      pair.lane.data$.subscribe((b) => received.push(b));
      const replay = new CaptureReplay({
        transport: pair.device,
        dialect,
        script: replayScript(cap, dialect),
        speed: 1000,
        firstWaitMs: 1,
      });
      const events: string[] = [];
      replay.events$.subscribe((e) => {
        if (e.type === "sent" || e.type === "skipped")
          events.push(`${e.type} ${e.step} ${e.frames.join(" ")}`);
      });
      await replay.start();
      await replay.run();
      await replay.stop();
      expect(events).toEqual([`sent 0 ${hb}`, `sent 1 ${hb} ${hb}`]);
      expect(Buffer.concat(received)).toEqual(Buffer.concat([f, f, g]));
    });
  },
);

describe("the lane's frames in a replay script", () => {
  const { dialect, f, g, c4 } = framesOf("legacy");
  // The lane wrote its C4 in two pieces 60 ms apart (a capture taken on the RSU side reads the lane's
  // frames as they arrived); the lane's link accepted it under its inter-byte timeout of 200 ms.
  const recorded: Step[] = [
    { rsu: f },
    { ms: 10 },
    { lane: c4.subarray(0, 4) },
    { ms: 60 },
    { lane: c4.subarray(4) },
    { ms: 10 },
    { rsu: g },
  ];

  it("are deframed with the inter-byte timeout the capture recorded: a frame read 60 ms apart under 200 is waited for", async () => {
    const cap = await capture(recorded, "etc-lane test rsu port protocol=legacy inter-byte-ms=200");
    expect(cap.ports[0]?.interByteMs).toBe(200);
    const script = replayScript(cap, dialect);
    expect(script.steps.map((st) => st.after.map((a) => a.type))).toEqual([[], ["C4"]]);
    expect(script.steps[0]?.limits).toEqual({ interByteMs: 200, maxFrameLength: 65_536 });
  });

  it("with the default 50 ms when the capture recorded none: the frame is a half frame dropped", async () => {
    const cap = await capture(recorded, "etc-lane test rsu port protocol=legacy");
    const script = replayScript(cap, dialect);
    expect(script.steps.map((st) => st.after.map((a) => a.type))).toEqual([[], []]);
  });
});
