/**
 * A write to a file may take fewer bytes than asked (a disk filling up): the capture writer writes the
 * rest after them (firmware-bridge/capture/capture-writer.ts), so the file holds every block whole and a
 * reader reads it to its end. Here every write takes at most 7 bytes.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import { RTAC_EVENT } from "../../firmware-bridge/capture/pcapng.js";
import { readCapture } from "../../firmware-bridge/capture/read-capture.js";

const short = vi.hoisted(() => ({ calls: 0, max: 7 }));
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  return {
    ...fs,
    writeSync: (fd: number, buf: Buffer, offset = 0, length = buf.length - offset): number => {
      short.calls++;
      return fs.writeSync(fd, buf, offset, Math.min(length, short.max));
    },
  };
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("capture writer on short writes", () => {
  it("writes every block whole, across a rotation, and the capture reads to its end", () => {
    const dir = mkdtempSync(join(tmpdir(), "capture-short-"));
    dirs.push(dir);
    let mono = 0;
    const w = new CaptureWriter({
      dir,
      prefix: "s",
      maxFileBytes: 200,
      maxFiles: 100,
      now: () => mono,
      wallNow: () => Date.UTC(2026, 11, 6),
    });
    const rsu = w.addPort("rsu", "test protocol=legacy");
    const sent: string[] = [];
    for (let i = 0; i < 12; i++) {
      mono += 10;
      const bytes = Buffer.from([0xff, 0xff, i, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff]);
      sent.push(bytes.toString("hex"));
      w.record(rsu, i % 2 === 0 ? RTAC_EVENT.dataTx : RTAC_EVENT.dataRx, bytes);
      w.flush();
    }
    w.close();
    const files = readdirSync(dir)
      .sort()
      .map((f) => join(dir, f));
    expect(files.length).toBeGreaterThan(1);
    const cap = readCapture(files);
    expect(cap.truncated).toEqual([]);
    expect(cap.skipped).toEqual([]);
    expect(cap.records.map((r) => r.bytes.toString("hex"))).toEqual(sent);
    // the writes were cut short: each block took several
    expect(short.calls).toBeGreaterThan(12 * 3);
  });
});
