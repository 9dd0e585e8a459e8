/**
 * The wire capture never fills the disk it shares with the journal (firmware-bridge/capture/capture-writer.ts
 * `minFreeBytes`, which the lane sets to src/datadir/free-space.ts FREE_SPACE_MARGIN): short of the margin
 * plus one file before a file, or of the margin while one grows, it deletes its own oldest files, and when
 * that is not enough it stops capturing with one error line naming the margin, writing nothing more. The
 * stop is told once to `onStopped` and kept in `status()`, for the lane's status and trail
 * (src/capture/wire-capture.ts).
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type CaptureStop, CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import { RTAC_EVENT } from "../../firmware-bridge/capture/pcapng.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";

const MiB = 1024 * 1024;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "capture-free-"));
  dirs.push(d);
  return d;
}

/** A disk of `size` bytes holding only the capture directory's files. */
function disk(dir: string, size: number): (d: string) => number {
  return (d) => {
    expect(d).toBe(dir);
    return size - readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  };
}

function writer(
  dir: string,
  freeBytes: (d: string) => number,
  lines: LogLine[],
  checkEveryBytes?: number,
  onStopped?: (s: CaptureStop) => void,
) {
  return new CaptureWriter({
    dir,
    prefix: "lane",
    maxFileBytes: 1000,
    maxFiles: 100,
    now: () => 0,
    wallNow: () => Date.UTC(2026, 11, 6),
    logger: recordingLogger(lines),
    minFreeBytes: 256 * MiB,
    freeBytes,
    ...(checkEveryBytes !== undefined ? { checkEveryBytes } : {}),
    ...(onStopped ? { onStopped } : {}),
  });
}

const stops = (lines: LogLine[]): LogLine[] =>
  lines.filter((l) => l.level === "error" && /capturing stops/.test(l.msg));

describe("capture writer: free space on its disk", () => {
  it("less than the margin and one file free: no file is written, one error line names the margin", () => {
    const dir = tmp();
    const lines: LogLine[] = [];
    const told: CaptureStop[] = [];
    const w = writer(
      dir,
      () => 256 * MiB + 999,
      lines,
      undefined,
      (s) => told.push(s),
    );
    const rsu = w.addPort("rsu", "protocol=legacy");
    expect(w.status()).toEqual({ dir, current: undefined, files: 0, bytes: 0, stopped: null });
    for (let i = 0; i < 3; i++) {
      w.record(rsu, RTAC_EVENT.dataTx, Buffer.alloc(40, i));
      w.flush();
    }
    w.close();
    expect(readdirSync(dir)).toEqual([]);
    // told once, however many flushes came after, and kept
    const stop = {
      reason: "disk-margin",
      message: expect.stringContaining(`less than 256 MiB free on the disk of ${dir}`),
      freeBytes: 256 * MiB + 999,
      marginBytes: 256 * MiB,
    };
    expect(told).toEqual([stop]);
    expect(w.status()).toEqual({ dir, current: undefined, files: 0, bytes: 0, stopped: stop });
    expect(stops(lines)).toEqual([
      expect.objectContaining({
        msg: expect.stringContaining(`less than 256 MiB free on the disk of ${dir}`),
        obj: expect.objectContaining({ marginMiB: 256 }),
      }),
    ]);
  });

  it("short of room: its own earlier files go first, oldest first, and capturing goes on", () => {
    const dir = tmp();
    // two earlier runs' files, 600 bytes each, and a file of someone else's
    for (const f of [
      "lane-r000001-20261201T000000.000-001.pcapng",
      "lane-r000002-20261202T000000.000-001.pcapng",
    ])
      writeFileSync(join(dir, f), Buffer.alloc(600));
    writeFileSync(join(dir, "notes.txt"), "kept");
    const lines: LogLine[] = [];
    // one byte short of the margin and one 1000-byte file beside the 1204 bytes there: room once one
    // earlier file is gone
    const w = writer(dir, disk(dir, 256 * MiB + 1000 + 1204 - 1), lines);
    const rsu = w.addPort("rsu", "protocol=legacy");
    w.record(rsu, RTAC_EVENT.dataTx, Buffer.alloc(40, 1));
    w.flush();
    w.close();
    expect(readdirSync(dir).sort()).toEqual([
      "lane-r000002-20261202T000000.000-001.pcapng",
      "lane-r000003-20261206T000000.000-001.pcapng",
      "notes.txt",
    ]);
    expect(stops(lines)).toEqual([]);
  });

  it("the disk filling while a file grows (the journal, another writer): capturing stops before the margin, the file kept", () => {
    const dir = tmp();
    const lines: LogLine[] = [];
    let free = 256 * MiB + 5000;
    const told: CaptureStop[] = [];
    const w = writer(
      dir,
      () => free,
      lines,
      100,
      (s) => told.push(s),
    );
    const rsu = w.addPort("rsu", "protocol=legacy");
    w.record(rsu, RTAC_EVENT.dataTx, Buffer.alloc(120, 1));
    w.flush();
    const [file] = readdirSync(dir);
    const size = statSync(join(dir, file as string)).size;
    expect(w.status()).toEqual({
      dir,
      current: join(dir, file as string),
      files: 1,
      bytes: size,
      stopped: null,
    });
    free = 256 * MiB - 1; // something else took the rest
    w.record(rsu, RTAC_EVENT.dataTx, Buffer.alloc(40, 2));
    w.flush();
    w.record(rsu, RTAC_EVENT.dataTx, Buffer.alloc(40, 3));
    w.flush();
    w.close();
    expect(readdirSync(dir)).toEqual([file]);
    expect(statSync(join(dir, file as string)).size).toBe(size);
    expect(stops(lines)).toHaveLength(1);
    // what it wrote before it stopped, and why it stopped
    expect(told.map((s) => s.reason)).toEqual(["disk-margin"]);
    expect(w.status()).toMatchObject({ files: 1, bytes: size, stopped: { reason: "disk-margin" } });
  });

  it("a directory that cannot be made stops it in the constructor: onStopped is told, write-failed", () => {
    const base = tmp();
    writeFileSync(join(base, "a-file"), "x");
    const dir = join(base, "a-file", "capture"); // under a file: ENOTDIR
    const told: CaptureStop[] = [];
    const w = writer(
      dir,
      () => 1024 * MiB,
      [],
      undefined,
      (s) => told.push(s),
    );
    expect(told).toEqual([
      {
        reason: "write-failed",
        message: expect.stringMatching(
          /^wire capture cannot be written: capturing stops \(the lane goes on\): /,
        ),
        error: expect.stringContaining("ENOTDIR"),
      },
    ]);
    expect(w.status().stopped).toEqual(told[0]);
  });

  it("a file that cannot be opened is not counted and not named: status() shows no file of this run", () => {
    const base = tmp();
    const dir = join(base, "capture");
    let removed = false;
    // the directory is made by the constructor, then goes before the first file is opened (ENOENT)
    const w = writer(dir, () => {
      if (!removed) {
        removed = true;
        rmSync(dir, { recursive: true });
      }
      return 1024 * MiB;
    }, []);
    const rsu = w.addPort("rsu", "protocol=legacy");
    w.record(rsu, RTAC_EVENT.dataTx, Buffer.alloc(4));
    w.flush();
    const s = w.status();
    expect(s.stopped?.reason).toBe("write-failed");
    expect(s.files).toBe(0);
    expect(s.current).toBeUndefined();
  });

  it("the last flush of close() that finds the disk short reports the stop, once", () => {
    const dir = tmp();
    let free = 1024 * MiB;
    const told: CaptureStop[] = [];
    const w = writer(
      dir,
      () => free,
      [],
      1,
      (s) => told.push(s),
    );
    const rsu = w.addPort("rsu", "protocol=legacy");
    w.record(rsu, RTAC_EVENT.dataTx, Buffer.alloc(40));
    w.flush();
    free = 0;
    w.record(rsu, RTAC_EVENT.dataTx, Buffer.alloc(40));
    w.close();
    expect(told.map((s) => s.reason)).toEqual(["disk-margin"]);
  });

  it("an onStopped that throws is logged; the writer's caller never sees it", () => {
    const dir = tmp();
    const lines: LogLine[] = [];
    const w = writer(
      dir,
      () => 0,
      lines,
      undefined,
      () => {
        throw new Error("trail closed");
      },
    );
    const rsu = w.addPort("rsu", "protocol=legacy");
    w.record(rsu, RTAC_EVENT.dataTx, Buffer.alloc(4));
    expect(() => w.flush()).not.toThrow();
    expect(w.status().stopped?.reason).toBe("disk-margin");
    expect(lines.filter((l) => l.level === "error").map((l) => l.msg)).toEqual([
      expect.stringContaining("capturing stops"),
      "wire capture: its stop could not be reported",
    ]);
  });
});
