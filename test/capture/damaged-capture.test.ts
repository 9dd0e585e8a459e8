/**
 * A damaged capture file: a block whose content cannot be right is skipped and named (file, byte offset,
 * why) and the blocks after it are read; a block length that cannot be right stops the reading there,
 * and everything before it is still read and printed.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import {
  interfaceDescription,
  packet,
  parsePcapng,
  RTAC_EVENT,
  sectionHeader,
} from "../../firmware-bridge/capture/pcapng.js";
import { CAPTURE_NAMED_PER_FILE, readCapture } from "../../firmware-bridge/capture/read-capture.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";
import { runCli } from "../helpers/cli.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
});

/**
 * A national capture of six read chunks, each one whole B-frame with body byte i, 1 ms apart, each read
 * on its own (a microtask between them: chunks read together share the first one's time,
 * firmware-bridge/capture/capture-writer.ts).
 */
async function capture(): Promise<{ file: string; buf: Buffer; epbs: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), "damaged-capture-"));
  dirs.push(dir);
  let mono = 0;
  const w = new CaptureWriter({ dir, prefix: "d", now: () => mono, wallNow: () => Date.UTC(2026, 11, 2) });
  const rsu = w.addPort("rsu", "etc-lane test rsu port x protocol=national");
  for (let i = 0; i < 6; i++) {
    w.record(rsu, RTAC_EVENT.dataRx, encodeNational(1, Buffer.from([0xb1, i])));
    mono += 1;
    await Promise.resolve();
  }
  w.close();
  const file = join(dir, readdirSync(dir)[0] as string);
  const buf = readFileSync(file);
  const epbs: number[] = [];
  for (let o = 0; o < buf.length; o += buf.readUInt32LE(o + 4)) if (buf.readUInt32LE(o) === 6) epbs.push(o);
  return { file, buf, epbs };
}

const bodies = (file: string): number[] => readCapture([file]).records.map((r) => r.bytes.at(-3) as number);

describe("a damaged capture", () => {
  it("skips each block whose content cannot be right, names it, and reads the blocks after it", async () => {
    const { file, buf, epbs } = await capture();
    const at = (n: number): number => epbs[n] as number;
    buf.writeUInt32LE(0x80000010, at(1) + 20); // captured length past the block
    buf.writeUInt32LE(5, at(2) + 8); // an interface the section does not describe
    buf.writeUInt32LE(0xffffffff, at(3) + 12); // timestamp high word: no date holds it
    buf[at(4) + 28 + 8] = 0x07; // RTAC event type no capture writes
    writeFileSync(file, buf);
    const cap = readCapture([file]);
    expect(cap.records.map((r) => r.bytes.at(-3))).toEqual([0, 5]);
    expect(cap.skipped).toEqual([
      `${file}: skipped block at byte ${at(1)}: packet captured length 2147483664 runs past its 68-byte block`,
      `${file}: skipped block at byte ${at(2)}: packet on interface 5, which the section does not describe (1 interface(s))`,
      expect.stringMatching(
        new RegExp(
          `^${file}: skipped block at byte ${at(3)}: packet timestamp \\d+ .* past any date a capture holds$`,
        ),
      ),
      `${file}: skipped block at byte ${at(4)}: RTAC event type 07, not one a capture writes (00, 01, 02)`,
    ]);
    expect(cap.truncated).toEqual([]);
  });

  it("a packet too short for its RTAC header, and a second section header with a bad magic, are skipped", async () => {
    const one = await capture();
    const two = await capture();
    const buf = Buffer.concat([one.buf, two.buf]); // two sections, as `cat` of two capture files gives
    buf.writeUInt32LE(4, (one.epbs[1] as number) + 20); // captured length 4: no room for the RTAC header
    buf.writeUInt32LE(0x12345678, one.buf.length + 8); // the second section's byte-order magic
    writeFileSync(one.file, buf);
    const cap = readCapture([one.file]);
    expect(cap.skipped).toEqual([
      `${one.file}: skipped block at byte ${one.epbs[1]}: 4 byte(s), shorter than the 12-byte RTAC serial header`,
      `${one.file}: skipped block at byte ${one.buf.length}: section header with a bad byte-order magic (12345678)`,
    ]);
    // the second section's interface is described after its header: its packets are read
    expect(cap.records.map((r) => r.bytes.at(-3))).toEqual([0, 0, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
  });

  it("a zero block length mid-file: the blocks before it are read, and where and why it stopped is said", async () => {
    const { file, buf, epbs } = await capture();
    const at = epbs[3] as number;
    buf.writeUInt32LE(0, at + 4);
    writeFileSync(file, buf);
    expect(bodies(file)).toEqual([0, 1, 2]);
    expect(readCapture([file]).truncated).toEqual([
      `${file}: the block at byte ${at} gives its length as 0, which no block has: the ${buf.length - at} byte(s) from there are not read`,
    ]);
    expect(parsePcapng(buf).skipped).toEqual([]);
    // etc-lane decode --capture prints the three frames, says the file was not read to its end, exits 1
    const r = await runCli("etc-lane", ["decode", "--capture", file]);
    expect(r.stdout.trim().split("\n")).toHaveLength(3);
    expect(r.stderr).toContain(`${file}: the block at byte ${at} gives its length as 0`);
    expect(r.stderr).toContain("1 capture file(s) not read to their end");
    expect(r.code).toBe(1);
  });

  it("a length at a block's start that its end does not repeat stops the reading there", async () => {
    const { file, buf, epbs } = await capture();
    const at = epbs[2] as number;
    const len = buf.readUInt32LE(at + 4);
    buf.writeUInt32LE(len + 8, at + 4); // still a multiple of 4, still inside the file
    writeFileSync(file, buf);
    expect(bodies(file)).toEqual([0, 1]);
    expect(readCapture([file]).truncated).toEqual([
      expect.stringContaining(`the block at byte ${at} gives its length as ${len + 8} at its start and`),
    ]);
  });

  it("a file of a rotated capture cut before its section header was whole is named, and the other files are read", async () => {
    const { file } = await capture();
    const dir = dirname(file);
    const empty = join(dir, "d-r000001-20261202T000000.000-002.pcapng"); // disk full at the rotation
    writeFileSync(empty, "");
    const half = join(dir, "d-r000001-20261202T000000.000-003.pcapng"); // killed inside the header write
    writeFileSync(half, Buffer.from("0a0d0d0a1c000000", "hex"));
    const zeros = join(dir, "d-r000001-20261202T000000.000-004.pcapng"); // its size reached the disk, not its data
    writeFileSync(zeros, Buffer.alloc(64));
    const cap = readCapture([file, empty, half, zeros]);
    expect(cap.records.map((r) => r.bytes.at(-3))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(cap.truncated).toEqual([
      `${empty}: the file is empty (cut before its section header was written)`,
      `${half}: the file ends inside its section header (8 byte(s))`,
      `${zeros}: the file holds only zero bytes (64): what was written to it never reached the disk`,
    ]);
    // a file of another kind, or one that cannot be opened, is named, and the files after it are read
    const text = join(dir, "notes.pcapng");
    writeFileSync(text, "not a capture");
    const gone = join(dir, "gone.pcapng");
    const other = readCapture([text, gone, file]);
    expect(other.unreadable).toEqual([
      `${text}: not a pcapng capture (no section header block at the start)`,
      expect.stringMatching(new RegExp(`^${gone.replace(/[.]/g, "\\.")}: ENOENT`)),
    ]);
    expect(other.records.map((r) => r.bytes.at(-3))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("etc-lane decode --capture and etc-sim replay read the other files of a rotated capture with an empty one, and exit 1", async () => {
    const { file } = await capture();
    const empty = join(dirname(file), "d-r000001-20261202T000000.000-002.pcapng");
    writeFileSync(empty, "");
    const named = `${empty}: the file is empty (cut before its section header was written)`;
    const decoded = await runCli("etc-lane", ["decode", "--capture", file, empty]);
    expect(
      decoded.stdout
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { type?: string }).type),
    ).toEqual(["B1", "B1", "B1", "B1", "B1", "B1"]);
    expect(decoded.stderr).toContain(named);
    expect(decoded.stderr).toContain("1 capture file(s) not read to their end");
    expect(decoded.code).toBe(1);
    // the replay: a capture whose RSU port only opened (nothing to send, no lane frame to wait for)
    const dir = mkdtempSync(join(tmpdir(), "damaged-capture-"));
    dirs.push(dir);
    const w = new CaptureWriter({ dir, prefix: "d", wallNow: () => Date.UTC(2026, 11, 2) });
    w.record(
      w.addPort("rsu", "etc-lane test rsu port x protocol=legacy"),
      RTAC_EVENT.statusChange,
      Buffer.alloc(0),
      "open",
    );
    w.close();
    const opened = join(dir, readdirSync(dir)[0] as string);
    const emptyToo = join(dir, "d-r000001-20261202T000000.000-002.pcapng");
    writeFileSync(emptyToo, "");
    const replayed = await runCli("etc-sim", ["replay", "--tcp", "127.0.0.1:0", opened, emptyToo]);
    expect(replayed.stderr).toContain(
      `${emptyToo}: the file is empty (cut before its section header was written)`,
    );
    expect(replayed.stdout).toContain(
      "replayed: 0 RSU write(s); the lane sent 0 of the 0 frame(s) the recorded lane sent; 0 difference(s) (only what was read was replayed: 1 capture file(s) not read to their end)",
    );
    // replayed in part: not a pass
    expect(replayed.code).toBe(1);
    // the same capture without the empty file replays whole
    const whole = await runCli("etc-sim", ["replay", "--tcp", "127.0.0.1:0", opened]);
    expect(whole.stdout).toContain(
      "replayed: 0 RSU write(s); the lane sent 0 of the 0 frame(s) the recorded lane sent; 0 difference(s)\n",
    );
    expect(whole.code).toBe(0);
  });

  it("etc-lane decode --capture prints every frame it could read, names each skipped block, exits 1", async () => {
    const { file, buf, epbs } = await capture();
    buf.writeUInt32LE(0xffffffff, (epbs[1] as number) + 12);
    buf.writeUInt32LE(0x80000010, (epbs[4] as number) + 20);
    writeFileSync(file, buf);
    const r = await runCli("etc-lane", ["decode", "--capture", file]);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.type, l.hex])).toEqual(
      [0, 2, 3, 5].map((i) => ["B1", encodeNational(1, Buffer.from([0xb1, i])).toString("hex")]),
    );
    expect(r.stderr).toContain(`${file}: skipped block at byte ${epbs[1]}: packet timestamp`);
    expect(r.stderr).toContain(`${file}: skipped block at byte ${epbs[4]}: packet captured length`);
    expect(r.stderr).toContain("2 capture block(s) skipped");
    expect(r.stderr).not.toMatch(/Invalid time value|out of range/);
    expect(r.code).toBe(1);
  });
});

/**
 * The little-endian Enhanced Packet Block at `epb` of `buf` rewritten as a Simple Packet Block (type 3:
 * original length and data, no interface id, no timestamp, no options), its data cut to `keep` bytes.
 */
function asSimplePacket(buf: Buffer, epb: number, keep?: number): Buffer {
  const capLen = buf.readUInt32LE(epb + 20);
  const data = buf.subarray(epb + 28, epb + 28 + Math.min(capLen, keep ?? capLen));
  const total = 16 + ((data.length + 3) & ~3);
  const spb = Buffer.alloc(total);
  spb.writeUInt32LE(3, 0);
  spb.writeUInt32LE(total, 4);
  spb.writeUInt32LE(buf.readUInt32LE(epb + 24), 8);
  data.copy(spb, 12);
  spb.writeUInt32LE(total, total - 4);
  return spb;
}

/**
 * The little-endian Enhanced Packet Block at `epb` of `buf` rewritten as an obsolete Packet Block (type 2):
 * a 16-bit interface id and a 16-bit drops count where the EPB has its 32-bit interface id.
 */
function asObsoletePacket(buf: Buffer, epb: number): Buffer {
  const pb = Buffer.from(buf.subarray(epb, epb + buf.readUInt32LE(epb + 4)));
  pb.writeUInt32LE(2, 0);
  pb.writeUInt16LE(buf.readUInt32LE(epb + 8), 8);
  pb.writeUInt16LE(0, 10);
  return pb;
}

/** `buf` with its block at `at` replaced by `block`. */
const replaceBlock = (buf: Buffer, at: number, block: Buffer): Buffer =>
  Buffer.concat([buf.subarray(0, at), block, buf.subarray(at + buf.readUInt32LE(at + 4))]);

describe("packets in Simple and obsolete Packet Blocks", () => {
  it("a Simple Packet Block on the section's only interface is read, timed by its RTAC header", async () => {
    const { file, buf, epbs } = await capture();
    const before = readCapture([file]).records;
    writeFileSync(file, replaceBlock(buf, epbs[2] as number, asSimplePacket(buf, epbs[2] as number)));
    const cap = readCapture([file]);
    expect(cap.skipped).toEqual([]);
    expect(cap.records).toEqual(before);
  });

  it("an obsolete Packet Block is read as an Enhanced one", async () => {
    const { file, buf, epbs } = await capture();
    const before = readCapture([file]).records;
    writeFileSync(file, replaceBlock(buf, epbs[3] as number, asObsoletePacket(buf, epbs[3] as number)));
    const cap = readCapture([file]);
    expect(cap.skipped).toEqual([]);
    expect(cap.records).toEqual(before);
  });

  it("a Simple Packet Block is cut to its interface's snap length, and says so", async () => {
    const { file, buf, epbs } = await capture();
    const idb = buf.readUInt32LE(4); // the interface description follows the section header
    buf.writeUInt32LE(14, idb + 12); // snaplen: the RTAC header and 2 bytes
    const at = epbs[1] as number;
    writeFileSync(file, replaceBlock(buf, at, asSimplePacket(buf, at, 14)));
    const cap = readCapture([file]);
    const whole = encodeNational(1, Buffer.from([0xb1, 1]));
    expect(cap.records[1]).toMatchObject({ bytes: whole.subarray(0, 2), cutFrom: whole.length });
    expect(cap.cut).toEqual([
      {
        port: "rsu",
        why: `${file}: packet at byte ${at} on port "rsu" holds 2 of the ${whole.length} bytes that crossed the port (the capture was cut to a snap length, as editcap -s does)`,
      },
    ]);
  });

  it("a Simple Packet Block holding less than its original length (no snap length) is skipped and named, its padding not read as bytes", async () => {
    const { file, buf, epbs } = await capture();
    const at = epbs[1] as number;
    const origLen = buf.readUInt32LE(at + 24);
    const spb = asSimplePacket(buf, at, 14); // 14 bytes and 2 of padding, of origLen
    writeFileSync(file, replaceBlock(buf, at, spb));
    const cap = readCapture([file]);
    expect(cap.records.map((r) => r.bytes.at(-3))).toEqual([0, 2, 3, 4, 5]);
    expect(cap.cut).toEqual([]);
    expect(cap.skipped).toEqual([
      `${file}: skipped block at byte ${at}: simple packet block data of ${origLen} bytes runs past its ${spb.length}-byte block`,
    ]);
  });

  it("a Simple Packet Block in a section of two interfaces is skipped and named: decode exits 1", async () => {
    const { file, buf, epbs } = await capture();
    const idbEnd = buf.readUInt32LE(4) + buf.readUInt32LE(buf.readUInt32LE(4) + 4);
    const reader = interfaceDescription("reader", "etc-lane test reader port r protocol=etc-reader");
    const at = (epbs[2] as number) + reader.length;
    let two: Buffer = Buffer.concat([buf.subarray(0, idbEnd), reader, buf.subarray(idbEnd)]);
    two = replaceBlock(two, at, asSimplePacket(two, at));
    writeFileSync(file, two);
    const why = `${file}: skipped block at byte ${at}: simple packet block in a section of 2 interfaces: the port it crossed is not known (it names no interface)`;
    const cap = readCapture([file]);
    expect(cap.records.map((r) => r.bytes.at(-3))).toEqual([0, 1, 3, 4, 5]);
    expect(cap.skipped).toEqual([why]);
    const r = await runCli("etc-lane", ["decode", "--capture", file]);
    expect(r.stdout.trim().split("\n")).toHaveLength(5);
    expect(r.stderr).toContain(why);
    expect(r.stderr).toContain("1 capture block(s) skipped");
    expect(r.code).toBe(1);
  });
});

describe("many bad packets in one file: a few named, the rest counted", () => {
  /**
   * One section, one national RSU port, `n` read B1s 1 ms apart, each as `damage` leaves its block; the
   * offset of each block.
   */
  function damaged(n: number, damage: (epb: Buffer) => void): { file: string; at: number[] } {
    const dir = mkdtempSync(join(tmpdir(), "damaged-capture-"));
    dirs.push(dir);
    const blocks = [
      sectionHeader("test", []),
      interfaceDescription("rsu", "etc-lane t rsu port x protocol=national"),
    ];
    const at: number[] = [];
    let o = blocks[0]!.length + blocks[1]!.length;
    for (let i = 0; i < n; i++) {
      const epb = packet(
        0,
        1_796_000_000_000_000n + BigInt(i) * 1000n,
        RTAC_EVENT.dataRx,
        encodeNational(1, Buffer.from([0xb1, i])),
      );
      damage(epb);
      blocks.push(epb);
      at.push(o);
      o += epb.length;
    }
    const file = join(dir, "many.pcapng");
    writeFileSync(file, Buffer.concat(blocks));
    return { file, at };
  }

  it("an interface of another link type is one line with its packet count, and decode still exits 1", async () => {
    const { file, at } = damaged(50, () => {});
    const buf = readFileSync(file);
    buf.writeUInt16LE(1, buf.readUInt32LE(4) + 8); // the interface's link type: Ethernet
    writeFileSync(file, buf);
    const line = `${file}: interface "rsu" has link type 1, not RTAC serial (250): its 50 packet(s) are skipped, the first at byte ${at[0]}`;
    const cap = readCapture([file]);
    expect(cap.records).toEqual([]);
    expect(cap.skipped).toEqual([line]);
    expect(cap.skippedBlocks).toBe(50);
    const r = await runCli("etc-lane", ["decode", "--capture", file]);
    expect(r.stderr.trim().split("\n")).toEqual([
      line,
      "the capture holds no bytes",
      "50 capture block(s) skipped (not readable; the blocks after them were read)",
    ]);
    expect(r.code).toBe(1);
  });

  it("the first blocks skipped in a file are named, the rest counted in one line", async () => {
    const n = CAPTURE_NAMED_PER_FILE + 30;
    const { file, at } = damaged(n, (epb) => {
      epb[28 + 8] = 0x07; // RTAC event type no capture writes
    });
    const cap = readCapture([file]);
    expect(cap.skipped).toEqual([
      ...at
        .slice(0, CAPTURE_NAMED_PER_FILE)
        .map(
          (o) =>
            `${file}: skipped block at byte ${o}: RTAC event type 07, not one a capture writes (00, 01, 02)`,
        ),
      `${file}: 30 more block(s) skipped, not named one by one (${n} in this file)`,
    ]);
    expect(cap.skippedBlocks).toBe(n);
    const r = await runCli("etc-lane", ["decode", "--capture", file]);
    expect(r.stderr.trim().split("\n")).toHaveLength(CAPTURE_NAMED_PER_FILE + 3);
    expect(r.stderr).toContain(`${n} capture block(s) skipped`);
    expect(r.code).toBe(1);
  });

  it("the first packets cut to a snap length in a file are named, the rest counted; replay refuses with the count", async () => {
    const n = CAPTURE_NAMED_PER_FILE + 5;
    const { file, at } = damaged(n, (epb) => {
      epb.writeUInt32LE(epb.readUInt32LE(8 + 12) + 5, 8 + 16); // original length: 5 bytes more than captured
    });
    const cap = readCapture([file]);
    const crossed = encodeNational(1, Buffer.from([0xb1, 0])).length + 5;
    expect(cap.cut).toEqual([
      ...at.slice(0, CAPTURE_NAMED_PER_FILE).map((o) => ({
        port: "rsu",
        why: `${file}: packet at byte ${o} on port "rsu" holds ${crossed - 5} of the ${crossed} bytes that crossed the port (the capture was cut to a snap length, as editcap -s does)`,
      })),
      {
        port: "rsu",
        packets: 5,
        why: `${file}: 5 more packet(s) on port "rsu" cut to a snap length, not named one by one (${n} in this file)`,
      },
    ]);
    const decoded = await runCli("etc-lane", ["decode", "--capture", file]);
    expect(decoded.stderr).toContain(`${n} captured packet(s) cut short by a snap length`);
    expect(decoded.code).toBe(1);
    const replayed = await runCli("etc-sim", ["replay", "--tcp", "127.0.0.1:0", file]);
    expect(replayed.stderr).toContain(
      `${n} captured packet(s) of port "rsu" cut short by a snap length, the first ${file}: packet at byte ${at[0]}`,
    );
    expect(replayed.code).not.toBe(0);
  });
});

describe("a port's inter-byte timeout the lane could not have run with", () => {
  /** An RSU port described `inter-byte-ms=<ms>`: a C0, then a half frame. */
  function described(ms: string): string {
    const dir = mkdtempSync(join(tmpdir(), "damaged-capture-"));
    dirs.push(dir);
    const file = join(dir, "ibm.pcapng");
    writeFileSync(
      file,
      Buffer.concat([
        sectionHeader("test", []),
        interfaceDescription(
          "rsu",
          `etc-lane t rsu port p protocol=legacy inter-byte-ms=${ms} max-frame-length=1024`,
        ),
        packet(
          0,
          1_796_257_452_100_000n,
          RTAC_EVENT.dataRx,
          Buffer.from("ffff80c06b17d5992026120810020104011500016eff", "hex"),
        ),
        packet(0, 1_796_257_452_200_000n, RTAC_EVENT.dataRx, Buffer.from("ffff80c06b", "hex")),
      ]),
    );
    return file;
  }

  it("a timeout past 1..5000 ms is left out with a warning naming file and port, and the half frame is dropped at the default", async () => {
    const file = described("9000000000000000");
    const warning = `${file}: port "rsu" says inter-byte-ms=9000000000000000, not the 1..5000 ms the lane runs with: read with the default`;
    const cap = readCapture([file]);
    expect(cap.ports[0]?.interByteMs).toBeUndefined();
    expect(cap.warnings).toEqual([warning]);
    const r = await runCli("etc-lane", ["decode", "--capture", file]);
    expect(r.stderr).not.toContain("Invalid time value");
    expect(r.stderr).toContain(warning);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(`"discarded":"ffff80c06b`);
    expect(lines[1]).toContain('"time":"2026-12-03T00:24:12.250Z"');
  });

  it("0 ms is left out too; 1 and 5000 ms are kept", () => {
    expect(readCapture([described("0")]).ports[0]?.interByteMs).toBeUndefined();
    expect(readCapture([described("1")]).ports[0]?.interByteMs).toBe(1);
    const top = readCapture([described("5000")]);
    expect(top.ports[0]?.interByteMs).toBe(5000);
    expect(top.warnings).toEqual([]);
  });
});

describe("a timestamp near the end of what a date holds", () => {
  /** A legacy RSU port: a half frame `ffff` at a sound time, then another at `us`. */
  function stamped(us: bigint): { file: string; at: number } {
    const dir = mkdtempSync(join(tmpdir(), "damaged-capture-"));
    dirs.push(dir);
    const head = Buffer.concat([
      sectionHeader("test", []),
      interfaceDescription("rsu", "etc-lane t rsu port p protocol=legacy"),
      packet(0, 1_796_257_452_000_000n, RTAC_EVENT.dataRx, Buffer.from("ffff", "hex")),
    ]);
    const file = join(dir, "late.pcapng");
    writeFileSync(file, Buffer.concat([head, packet(0, us, RTAC_EVENT.dataRx, Buffer.from("ffff", "hex"))]));
    return { file, at: head.length };
  }

  it("a packet stamped past the year 9999 is skipped and named, not a timeline that stops on an invalid date", async () => {
    const { file, at } = stamped(8_640_000_000_000_000_000n - 10n); // 10 µs before the last time a Date holds
    const cap = readCapture([file]);
    expect(cap.records).toHaveLength(1);
    expect(cap.skipped).toEqual([
      `${file}: skipped block at byte ${at}: packet timestamp 8639999999999999990 (1000000 per second) is past the end of the year 9999, past any date a capture holds`,
    ]);
    const r = await runCli("etc-lane", ["decode", "--capture", file]);
    expect(r.stderr).not.toContain("Invalid time value");
    expect(r.stderr).toContain(`${file}: skipped block at byte ${at}: packet timestamp`);
    // the sound packet's half frame is still dropped at its timeout, and shown
    expect(r.stdout.trim().split("\n")).toEqual([expect.stringContaining('"discarded":"ffff')]);
    expect(r.code).toBe(1);
  });

  it("the last microsecond of the year 9999 is read, and its half frame dropped after it", async () => {
    const { file } = stamped(BigInt(Date.UTC(9999, 11, 31, 23, 59, 59, 999)) * 1000n + 999n);
    expect(readCapture([file]).skipped).toEqual([]);
    const r = await runCli("etc-lane", ["decode", "--capture", file]);
    expect(r.stderr).not.toContain("Invalid time value");
    expect(r.stdout).toContain('"time":"+010000-01-01T00:00:00.049Z"');
  });
});
