/**
 * Captures read a block at a time (firmware-bridge/capture/pcapng.ts fileSource, read-capture.ts
 * openCapture): records come one at a time, a file is read when its records are due, files of 2 GiB and
 * more are read, a file that cannot be read leaves the others read, and a packet cut to a snap length is
 * named and not decoded as if whole.
 */
import {
  closeSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import {
  interfaceDescription,
  packet,
  RTAC_EVENT,
  sectionHeader,
} from "../../firmware-bridge/capture/pcapng.js";
import { openCapture, readCapture } from "../../firmware-bridge/capture/read-capture.js";
import { DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/index.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";
import { captureTimeline, timelineEntries } from "../../src/rsu/analyse-capture.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "capture-stream-"));
  dirs.push(d);
  return d;
};

/** A national capture file of `n` read chunks, each a whole frame with body byte i, 1 ms apart. */
async function capture(dir: string, prefix: string, n: number): Promise<string> {
  let mono = 0;
  const w = new CaptureWriter({ dir, prefix, now: () => mono, wallNow: () => Date.UTC(2026, 11, 2) });
  const rsu = w.addPort("rsu", "etc-lane test rsu port x protocol=national");
  for (let i = 0; i < n; i++) {
    w.record(rsu, RTAC_EVENT.dataRx, encodeNational(1, Buffer.from([0xb1, i])));
    mono += 1;
    await Promise.resolve();
  }
  w.close();
  return join(dir, readdirSync(dir).find((f) => f.startsWith(prefix)) as string);
}

describe("a capture read a block at a time", () => {
  it("reads the same records through a buffer of a few bytes as through a large one", async () => {
    const file = await capture(tmp(), "a", 5);
    const whole = readCapture([file]);
    const small = readCapture([file], { chunkBytes: 16 });
    expect(small.records).toEqual(whole.records);
    expect(small.records.map((r) => r.bytes.at(-3))).toEqual([0, 1, 2, 3, 4]);
  });

  it("gives the records one at a time: a file is read for its records only when they are due", async () => {
    const dir = tmp();
    const first = await capture(dir, "a", 2);
    const second = await capture(dir, "b", 2);
    const cap = openCapture([first, second], { chunkBytes: 64 });
    expect(cap.runs?.map((r) => r.files)).toEqual([[first], [second]]);
    const records = cap.records();
    expect(records.next().value?.bytes.at(-3)).toBe(0);
    expect(records.next().value?.bytes.at(-3)).toBe(1);
    // the second file was read through once (its run is known) but its records are read only now
    rmSync(second);
    expect(() => records.next()).toThrow(new RegExp(`^${second.replace(/\./g, "\\.")}: ENOENT`));
  });

  it("the timeline gives each entry as its records come, before the capture's last record is read", () => {
    const frame = encodeNational(1, Buffer.from([0xb1, 7]));
    function* records() {
      yield { t: 0, run: 0, wallMs: 0, port: "rsu", dir: "rx" as const, bytes: frame };
      throw new Error("the next file could not be read");
    }
    const entries = timelineEntries(
      {
        runs: [{ name: "x", files: ["x"], t: 0 }],
        ports: [{ run: 0, name: "rsu", description: "", protocol: "national", speaks: "national" }],
        records: records(),
      },
      () => DEFAULT_NATIONAL_DIALECT,
    );
    expect(entries.next().value?.json).toMatchObject({
      t: 0,
      port: "rsu",
      dir: "rx",
      hex: frame.toString("hex"),
    });
    expect(() => entries.next()).toThrow("the next file could not be read");
  });

  it("reads a file of more than 2 GiB (readFileSync's limit), up to where its blocks end", async () => {
    const file = await capture(tmp(), "a", 3);
    const size = readFileSync(file).length;
    const fd = openSync(file, "r+");
    ftruncateSync(fd, 2 ** 31 + 4096); // sparse: zero bytes after the blocks, as a crash leaves them
    closeSync(fd);
    const cap = readCapture([file]);
    expect(cap.unreadable).toEqual([]);
    expect(cap.records.map((r) => r.bytes.at(-3))).toEqual([0, 1, 2]);
    expect(cap.truncated).toEqual([
      `${file}: the block at byte ${size} gives its length as 0, which no block has: the ${2 ** 31 + 4096 - size} byte(s) from there are not read`,
    ]);
  });
});

describe("a packet cut to a snap length (editcap -s)", () => {
  /** One section, one port, a whole B1 and then a B1 whose EPB says 5 of its bytes were not captured. */
  function cutFile(dir: string): { file: string; whole: Buffer; cut: Buffer; at: number } {
    const whole = encodeNational(1, Buffer.from([0xb1, 1]));
    const b1 = encodeNational(2, Buffer.from([0xb1, 2]));
    const cut = b1.subarray(0, b1.length - 5);
    const head = Buffer.concat([
      sectionHeader("test", []),
      interfaceDescription("rsu", "etc-lane test rsu port x protocol=national"),
      packet(0, 1_000_000n, RTAC_EVENT.dataRx, whole),
    ]);
    const epb = packet(0, 1_001_000n, RTAC_EVENT.dataRx, cut);
    epb.writeUInt32LE(12 + b1.length, 8 + 16); // original length: the RTAC header and every byte of the B1
    const file = join(dir, "snap.pcapng");
    writeFileSync(file, Buffer.concat([head, epb]));
    return { file, whole, cut, at: head.length };
  }

  it("is named, its record says how many bytes crossed the port, and the timeline does not deframe it", () => {
    const { file, whole, cut, at } = cutFile(tmp());
    const cap = readCapture([file]);
    expect(cap.cut).toEqual([
      {
        port: "rsu",
        why: `${file}: packet at byte ${at} on port "rsu" holds ${cut.length} of the ${cut.length + 5} bytes that crossed the port (the capture was cut to a snap length, as editcap -s does)`,
      },
    ]);
    expect(cap.records.map((r) => r.cutFrom)).toEqual([undefined, cut.length + 5]);
    const lines = captureTimeline(cap, () => DEFAULT_NATIONAL_DIALECT);
    expect(lines.map((e) => e.json)).toEqual([
      expect.objectContaining({ hex: whole.toString("hex") }),
      expect.objectContaining({
        discarded: cut.toString("hex"),
        why: `cut short by the capture (snap length): ${cut.length} of the ${cut.length + 5} bytes that crossed the port were kept, not decoded`,
      }),
    ]);
    expect(lines[1]?.complete).toBe(false);
  });
});

describe("a file whose times go back (a write stamped when handed to the port, recorded once it settled)", () => {
  /** `pairs` writes, each with a read recorded while it drained: every write's record goes back in time. */
  function readsDuringDrains(pairs: number): string[] {
    const dir = tmp();
    let t = 0;
    const w = new CaptureWriter({ dir, prefix: "lane-x", now: () => t, wallNow: () => 1.7e12 });
    const rsu = w.addPort("rsu", "etc-lane x rsu port p protocol=legacy");
    for (let k = 0; k < pairs; k++) {
      const handed = w.time();
      t += 1;
      w.record(rsu, RTAC_EVENT.dataRx, Buffer.alloc(40, 1));
      t += 1;
      w.record(rsu, RTAC_EVENT.dataTx, Buffer.alloc(40, 2), undefined, handed);
      t += 5;
    }
    w.flush();
    w.close();
    return readdirSync(dir).map((f) => join(dir, f));
  }

  it("its records come in time order, and reading holds the records within how far it goes back, not a buffer per place it does", () => {
    const files = readsDuringDrains(2000);
    const before = process.memoryUsage().arrayBuffers;
    const records = openCapture(files).records();
    const first = records.next();
    const grown = process.memoryUsage().arrayBuffers - before;
    // one 1 MiB buffer per place the times go back would be 2,000 MiB; one per file is 1 MiB
    expect(grown).toBeLessThan(64 * 2 ** 20);
    const all = [first.value, ...records].map((r) => ({ t: r?.t, dir: r?.dir }));
    expect(all).toHaveLength(4000);
    expect(all.map((r) => r.dir)).toEqual(
      Array.from({ length: 4000 }, (_, i) => (i % 2 === 0 ? "tx" : "rx")),
    );
    expect(all.map((r) => r.t)).toEqual(Array.from({ length: 4000 }, (_, i) => 7 * (i >> 1) + (i % 2)));
  });
});

describe("a run of many files (rotated), read after each other", () => {
  it("a file is opened when its records are due and closed when they are used up: one open at a time, the records in order", () => {
    const dir = tmp();
    let t = 0;
    const w = new CaptureWriter({
      dir,
      prefix: "lane-x",
      now: () => t,
      wallNow: () => 1.7e12,
      maxFileBytes: 2000,
      maxFiles: 1000,
    });
    const rsu = w.addPort("rsu", "etc-lane x rsu port p protocol=legacy");
    for (let k = 0; k < 1000; k++) {
      // writes (reads in one turn share a time)
      w.record(rsu, RTAC_EVENT.dataTx, Buffer.alloc(40, k % 256));
      w.flush();
      t += 1;
    }
    w.close();
    const files = readdirSync(dir)
      .sort()
      .map((f) => join(dir, f));
    expect(files.length).toBeGreaterThan(20);
    const fdsOpen = (): number => readdirSync("/proc/self/fd").length;
    const before = fdsOpen();
    const records = openCapture(files).records();
    const first = records.next();
    expect(fdsOpen() - before).toBe(1);
    const ts = [first.value, ...records].map((r) => r?.t);
    expect(ts).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(fdsOpen()).toBe(before);
  });
});
