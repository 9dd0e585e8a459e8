/**
 * `etc-lane decode --capture` turns the event loop every DECODE_TURN_ENTRIES entries as it prints them
 * (src/cli/commands/decode.ts): the card reader's deframer cuts each accepted frame with a
 * `@serialport/parser-byte-length` stream whose clean-up runs on the next tick, so a capture decoded in one
 * turn would keep every reader frame's stream, and its memory, until the end.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import { RTAC_EVENT } from "../../firmware-bridge/capture/pcapng.js";
import { encodeReaderFrame, READER_CAPTURE_PROTOCOL } from "../../firmware-bridge/reader/frame.js";
import { DECODE_TURN_ENTRIES, registerDecode } from "../../src/cli/commands/decode.js";
import { inProcessEtcLane } from "../helpers/cli.js";

const cli = inProcessEtcLane("etc-decode-turns-", [registerDecode]);

describe("decode --capture of a card reader's port", () => {
  it("turns the event loop every DECODE_TURN_ENTRIES entries, so the reader frames' streams are freed as it goes, not at the end", async () => {
    const frames = 4 * DECODE_TURN_ENTRIES;
    let mono = 0;
    const w = new CaptureWriter({
      dir: cli.dir(),
      prefix: "lane",
      now: () => mono,
      wallNow: () => Date.parse("2026-12-02T10:00:00Z"),
    });
    const reader = w.addPort("reader", `booth card reader protocol=${READER_CAPTURE_PROTOCOL}`);
    for (let i = 0; i < frames; i++) {
      mono = i;
      w.record(reader, RTAC_EVENT.dataRx, encodeReaderFrame(i & 0xff, 0x12, 0, Buffer.from("9000", "hex")));
    }
    w.close();
    const files = readdirSync(cli.dir())
      .filter((f) => f.endsWith(".pcapng"))
      .map((f) => join(cli.dir(), f));

    // the turns decode takes, each as the number of lines printed by then: each turn runs the work the
    // reader frames before it put on the next-tick queue
    const lines = (): number => cli.io().out.split("\n").length - 1;
    const turns: number[] = [];
    const immediate = globalThis.setImmediate;
    vi.spyOn(globalThis, "setImmediate").mockImplementation(((cb: () => void) => {
      turns.push(lines());
      return immediate(cb);
    }) as typeof setImmediate);

    expect(await cli.run(["decode", "--full-ids", "--capture", ...files])).toBe(0);
    expect(
      cli
        .io()
        .out.trim()
        .split("\n")
        .filter((l) => l.includes('"reader"')).length,
    ).toBe(frames);
    // a turn at least every DECODE_TURN_ENTRIES lines, from the first line to the last: not all of them
    // before the loop or after it
    const gaps = [...turns, lines()].map((at, i, all) => at - (i === 0 ? 0 : (all[i - 1] as number)));
    expect(gaps.filter((g) => g > DECODE_TURN_ENTRIES)).toEqual([]);
    expect(turns.length).toBeGreaterThanOrEqual(frames / DECODE_TURN_ENTRIES - 1);
  });
});
