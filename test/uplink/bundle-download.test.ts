/**
 * A status-list bundle downloaded a few pages at a time and resumed where it stopped
 * (src/uplink/bundle-download.ts): the pages from a source that serves `body`, failing where a test says.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, expect, it, vi } from "vitest";
import { EtcError, isEtcError } from "../../firmware-bridge/errors.js";
import { silentLogger } from "../../firmware-bridge/log.js";
import { BundleDownload, type PageSource } from "../../src/uplink/bundle-download.js";
import type { BundleInfo } from "../../src/uplink/station-client.js";
import { rejectionOf } from "../helpers/rejection.js";
import { tempDir } from "../journal/helpers.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function dir(): string {
  const t = tempDir("etc-dl-");
  cleanups.push(t.cleanup);
  return t.dir;
}

/** Serves `body` in pages of `pageSize`; `fail(p)` true: that request fails as the station client's do. */
function source(body: Buffer, pageSize: number, fail: (p: number, n: number) => boolean = () => false) {
  const asked: number[] = [];
  const s: PageSource = {
    async bundlePage(_info, p) {
      asked.push(p);
      if (fail(p, asked.length)) throw new EtcError("E611_STATION_UNREACHABLE", `page ${p + 1}: timed out`);
      return Buffer.from(body.subarray(p * pageSize, (p + 1) * pageSize));
    },
  };
  return { s, asked };
}

function info(body: Buffer, pageSize: number, over: Partial<BundleInfo> = {}): BundleInfo {
  return {
    name: "full-202611260000.bundle",
    kind: "full",
    base: null,
    version: "202611260000",
    bytes: body.length,
    sha256: createHash("sha256").update(body).digest("hex"),
    pageSize,
    pages: Math.ceil(body.length / pageSize),
    ...over,
  };
}

// 600 KB pages, each hashed in three slices; the last page is 300 KB
const body = Buffer.from(Array.from({ length: 1_500_000 }, (_, i) => (i * 7919) & 0xff));
const PAGE = 600_000;

it("writes the pages to the file and checks length and SHA-256", async () => {
  const d = dir();
  const { s } = source(body, PAGE);
  const dl = new BundleDownload(d, s, silentLogger);
  const file = await dl.step(info(body, PAGE), 100);
  expect(file).toBe(join(d, "full-202611260000.bundle.download"));
  expect(readFileSync(file!).equals(body)).toBe(true);
  await dl.finish();
  expect(readdirSync(d)).toEqual([]);
});

it("takes at most the pages it is given per step, and a failed page is asked for again, not page 0", async () => {
  const d = dir();
  const { s, asked } = source(body, PAGE, (p, n) => p === 2 && n === 3); // the third page fails once
  const dl = new BundleDownload(d, s, silentLogger);
  const b = info(body, PAGE);
  expect(await dl.step(b, 2)).toBeNull();
  expect(dl.progress).toEqual({ name: b.name, pages: 3, pagesDone: 2 });
  expect(isEtcError(await rejectionOf(dl.step(b, 2)), "E611_STATION_UNREACHABLE")).toBe(true);
  expect(dl.progress?.pagesDone).toBe(2);
  const file = await dl.step(b, 2);
  expect(asked).toEqual([0, 1, 2, 2]);
  expect(readFileSync(file!).equals(body)).toBe(true);
});

it("a new process resumes from the files the last one left, with the hash of their pages rebuilt", async () => {
  const d = dir();
  const b = info(body, PAGE);
  await new BundleDownload(d, source(body, PAGE).s, silentLogger).step(b, 2);
  // a crash after a page's write but before its progress: the extra bytes are not counted
  writeFileSync(
    join(d, `${b.name}.download`),
    Buffer.concat([body.subarray(0, 1_200_000), Buffer.alloc(5000)]),
  );
  const { s, asked } = source(body, PAGE);
  const file = await new BundleDownload(d, s, silentLogger).step(b, 10);
  expect(asked).toEqual([2]);
  expect(readFileSync(file!).equals(body)).toBe(true);
});

it("a file shorter than its progress says starts again from page 0 and completes", async () => {
  const d = dir();
  const b = info(body, PAGE);
  await new BundleDownload(d, source(body, PAGE).s, silentLogger).step(b, 2);
  truncateSync(join(d, `${b.name}.download`), 700_000);
  const { s, asked } = source(body, PAGE);
  const file = await new BundleDownload(d, s, silentLogger).step(b, 10);
  expect(asked).toEqual([0, 1, 2]);
  expect(readFileSync(file!).equals(body)).toBe(true);
});

it("progress of another bundle starts again from page 0, and the whole is refused (E614) against its manifest", async () => {
  const d = dir();
  await new BundleDownload(d, source(body, PAGE).s, silentLogger).step(info(body, PAGE), 2);
  const other = info(body, PAGE, { sha256: "0".repeat(64) });
  const { s, asked } = source(body, PAGE);
  const err = await rejectionOf(new BundleDownload(d, s, silentLogger).step(other, 10));
  expect(isEtcError(err, "E614_STATUS_LIST_BUNDLE")).toBe(true);
  expect((err as Error).message).toMatch(/manifest says 1500000 bytes sha256 000000000000/);
  expect(asked).toEqual([0, 1, 2]);
  expect(readdirSync(d)).toEqual([]);
});

it("another bundle in the manifest discards the download under way, and leftovers of earlier versions go", async () => {
  const d = dir();
  writeFileSync(join(d, "full-202611250000.bundle.4242.download"), "old"); // an earlier version's name
  const { s } = source(body, PAGE);
  const dl = new BundleDownload(d, s, silentLogger);
  await dl.step(info(body, PAGE), 1);
  expect(readdirSync(d).sort()).toEqual([
    "full-202611260000.bundle.download",
    "full-202611260000.bundle.download.json",
  ]);
  const small = body.subarray(0, 1000);
  const next = info(small, PAGE, { name: "full-202611260005.bundle", version: "202611260005" });
  const file = await new BundleDownload(d, source(small, PAGE).s, silentLogger).step(next, 1);
  const file2 = await dl.step(next, 1); // the first one also moves on to the newer bundle
  expect(file2).toBe(file);
  expect(readdirSync(d).sort()).toEqual([
    "full-202611260005.bundle.download",
    "full-202611260005.bundle.download.json",
  ]);
});

it("a bundle that does not match the manifest is refused (E614) and its files removed", async () => {
  const d = dir();
  const tampered = Buffer.from(body);
  tampered.writeUInt8(tampered.readUInt8(1_000_000) ^ 1, 1_000_000);
  const dl = new BundleDownload(d, source(tampered, PAGE).s, silentLogger);
  const err = await rejectionOf(dl.step(info(body, PAGE), 100));
  expect(isEtcError(err, "E614_STATUS_LIST_BUNDLE")).toBe(true);
  expect((err as Error).message).toMatch(/manifest says 1500000 bytes/);
  expect(readdirSync(d)).toEqual([]);
  expect(dl.progress).toBeNull();
});

it("a page of the wrong length is refused (E614) at once and the download discarded", async () => {
  const d = dir();
  const { s, asked } = source(body.subarray(0, 1_400_000), PAGE); // the last page 100 KB short
  const dl = new BundleDownload(d, s, silentLogger);
  const err = await rejectionOf(dl.step(info(body, PAGE), 100));
  expect(isEtcError(err, "E614_STATUS_LIST_BUNDLE")).toBe(true);
  expect((err as Error).message).toMatch(/page 3\/3 has 200000 bytes.*give it 300000/);
  expect(asked).toEqual([0, 1, 2]);
  expect(existsSync(join(d, "full-202611260000.bundle.download"))).toBe(false);
  expect(readdirSync(d)).toEqual([]);
});

it("a page the source finds longer than the manifest gives it (E614 from StationClient.bundlePage) discards the download", async () => {
  const d = dir();
  const s: PageSource = {
    async bundlePage(i, p) {
      if (p === 1)
        throw new EtcError("E614_STATUS_LIST_BUNDLE", `status-list bundle ${i.name}: page 2/3 is longer`);
      return Buffer.from(body.subarray(p * PAGE, (p + 1) * PAGE));
    },
  };
  const dl = new BundleDownload(d, s, silentLogger);
  const err = await rejectionOf(dl.step(info(body, PAGE), 100));
  expect(isEtcError(err, "E614_STATUS_LIST_BUNDLE")).toBe(true);
  expect(dl.progress).toBeNull();
  expect(readdirSync(d)).toEqual([]);
});

/** Makes FileHandle.write do `impl` (given the real write) until restored. */
async function spyWrite(d: string, impl: (real: FileHandle["write"], ...a: unknown[]) => unknown) {
  const probe = await open(join(d, "probe"), "w");
  const proto = Object.getPrototypeOf(probe) as { write: FileHandle["write"] };
  await probe.close();
  rmSync(join(d, "probe"));
  const real = proto.write;
  return vi.spyOn(proto, "write").mockImplementation(function (this: FileHandle, ...a: unknown[]) {
    return impl(real.bind(this), ...a) as ReturnType<FileHandle["write"]>;
  });
}

it("a page whose write fails (an I/O error) is asked for again, from the files, and the bundle still checks out", async () => {
  const d = dir();
  const { s, asked } = source(body, PAGE);
  const dl = new BundleDownload(d, s, silentLogger);
  const b = info(body, PAGE);
  await dl.step(b, 1);
  const write = await spyWrite(d, () =>
    Promise.reject(Object.assign(new Error("i/o error"), { code: "EIO" })),
  );
  const e = await rejectionOf(dl.step(b, 1));
  write.mockRestore();
  // the lane's disk, not the station: E615, the download dropped from memory and taken up from its files
  expect(e).toMatchObject({ code: "E615_STATUS_LIST_LOCAL", details: { errno: "EIO" } });
  expect(dl.progress).toBeNull();
  const file = await dl.step(b, 10);
  expect(asked).toEqual([0, 1, 1, 2]);
  expect(readFileSync(file!).equals(body)).toBe(true);
});

it("a full disk (ENOSPC) discards the download: its files go, the next step starts again from page 0", async () => {
  const d = dir();
  const { s, asked } = source(body, PAGE);
  const dl = new BundleDownload(d, s, silentLogger);
  const b = info(body, PAGE);
  await dl.step(b, 1);
  const write = await spyWrite(d, () =>
    Promise.reject(Object.assign(new Error("no space left on device"), { code: "ENOSPC" })),
  );
  const e = await rejectionOf(dl.step(b, 1));
  write.mockRestore();
  expect(e).toMatchObject({ code: "E615_STATUS_LIST_LOCAL", details: { errno: "ENOSPC" } });
  expect(dl.progress).toBeNull();
  expect(readdirSync(d)).toEqual([]);
  const file = await dl.step(b, 10);
  expect(asked).toEqual([0, 1, 0, 1, 2]);
  expect(readFileSync(file!).equals(body)).toBe(true);
});

it("a short write (fewer bytes than asked, no error) is written on: the file holds the whole page", async () => {
  const d = dir();
  const dl = new BundleDownload(d, source(body, PAGE).s, silentLogger);
  let shortened = 0;
  const write = await spyWrite(d, (real, buf, off, len, pos) => {
    // the first write of each page writes a third of it, as a disk filling up may
    if ((len as number) === PAGE || (len as number) === body.length - 2 * PAGE) {
      shortened++;
      return real(buf as Buffer, off as number, Math.floor((len as number) / 3), pos as number);
    }
    return real(buf as Buffer, off as number, len as number, pos as number);
  });
  const file = await dl.step(info(body, PAGE), 10);
  write.mockRestore();
  expect(shortened).toBe(3);
  expect(readFileSync(file!).equals(body)).toBe(true);
});

it("a write of nothing is a full disk: E615, the download discarded", async () => {
  const d = dir();
  const dl = new BundleDownload(d, source(body, PAGE).s, silentLogger);
  const write = await spyWrite(d, () => Promise.resolve({ bytesWritten: 0, buffer: Buffer.alloc(0) }));
  const e = await rejectionOf(dl.step(info(body, PAGE), 10));
  write.mockRestore();
  expect(e).toMatchObject({ code: "E615_STATUS_LIST_LOCAL", details: { errno: "ENOSPC" } });
  expect(readdirSync(d)).toEqual([]);
});

it("no page is fetched without room for the rest of the bundle and the margin; one that is short discards the download", async () => {
  const d = dir();
  const b = info(body, PAGE);
  let free = body.length + 1000; // bytes free on the disk
  const statfs = async () => ({ bavail: free, bsize: 1 });
  const { s, asked } = source(body, PAGE);
  const dl = new BundleDownload(d, s, silentLogger, { freeSpaceMargin: 1000, statfs });
  expect(await dl.step(b, 1)).toBeNull(); // exactly the bundle and the margin: it goes
  free = body.length - PAGE + 999; // the rest of the bundle and the margin, less one byte
  const e = await rejectionOf(dl.step(b, 1));
  expect(e).toMatchObject({ code: "E615_STATUS_LIST_LOCAL", details: { rest: body.length - PAGE } });
  expect(asked).toEqual([0]);
  expect(readdirSync(d)).toEqual([]);
  expect(dl.progress).toBeNull();
  // on the real disk (statfs): a margin no disk has stops the download before its first page
  const none = source(body, PAGE);
  const huge = new BundleDownload(dir(), none.s, silentLogger, { freeSpaceMargin: 2 ** 60 });
  expect(await rejectionOf(huge.step(b, 10))).toMatchObject({ code: "E615_STATUS_LIST_LOCAL" });
  expect(none.asked).toEqual([]);
});

it("abandon removes a download left unfinished, by this process or an earlier one", async () => {
  const d = dir();
  const b = info(body, PAGE);
  await new BundleDownload(d, source(body, PAGE).s, silentLogger).step(b, 1);
  const dl = new BundleDownload(d, source(body, PAGE).s, silentLogger);
  await dl.abandon();
  expect(readdirSync(d)).toEqual([]);
  await dl.step(b, 1);
  await dl.abandon();
  expect(readdirSync(d)).toEqual([]);
  expect(dl.progress).toBeNull();
});

it("removes only bundle downloads: other files in a shared directory stay", async () => {
  const d = dir();
  for (const n of [
    "report.download",
    "photos.download.json",
    "full-202611250000.bundle.4242.download",
    "x.txt",
  ])
    writeFileSync(join(d, n), "x");
  await new BundleDownload(d, source(body, PAGE).s, silentLogger).abandon();
  expect(readdirSync(d).sort()).toEqual(["photos.download.json", "report.download", "x.txt"]);
});
