/**
 * A status-list bundle downloaded a few pages at a time, and resumed where it stopped (docs/station-api.md
 * "Status lists"). A full list is about 480 MB: on a slow or flaky station link, downloading it in one step
 * held the upload queue for the whole download, and a page that failed started it again from page 0.
 *
 * Files in the download directory (the lane's `<dataDir>/downloads`):
 * - `<name>.download`: the pages received so far, in order;
 * - `<name>.download.json`: what they are (the manifest's name, bytes, SHA-256, page size and count) and how
 *   many pages and bytes of the file count.
 *
 * Neither is fsynced: they are a cache. A progress file that does not match the manifest's bundle, or a
 * file shorter than the progress says, starts the download again; whatever the file holds, the bundle is
 * used only once its length and SHA-256 match the manifest's (and the status-list worker then checks its
 * signature). Every page is written whole (a short write is continued) before it counts.
 *
 * The directory is on the lane's data disk, beside the journal: a download starts or goes on only while
 * the disk has room for the rest of the bundle and FREE_SPACE_MARGIN more, and a disk that fills up anyway
 * (ENOSPC) discards the download, so that a bundle never keeps the journal's disk full. The lane's own
 * failures (those, or a directory that cannot be written, a file of the download deleted) are
 * E615_STATUS_LIST_LOCAL, not the station's; the download is then taken up again from its files at the
 * next step (from page 0 when they are gone).
 */
import { createHash, type Hash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { mkdir, open, readdir, readFile, rename, stat, statfs, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { EtcError, isEtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { FREE_SPACE_MARGIN } from "../datadir/free-space.js";
import { JournalErrorCodes } from "../journal/errors.js";
import type { BundleInfo } from "./station-client.js";

/** Where pages come from (StationClient.bundlePage). */
export interface PageSource {
  bundlePage(info: BundleInfo, page: number): Promise<Buffer>;
}

/** What `<name>.download.json` holds. */
interface Progress {
  v: 1;
  name: string;
  bytes: number;
  sha256: string;
  pageSize: number;
  pages: number;
  pagesDone: number;
  fileBytes: number;
}

interface Current {
  info: BundleInfo;
  hash: Hash;
  pagesDone: number;
  fileBytes: number;
}

const SUFFIX = ".download";
const PROGRESS_SUFFIX = ".download.json";
/**
 * What this module (and earlier versions, with their process id) leave in the download directory: only
 * these names are ever removed, so a directory shared with other programs (the OS temp directory, the
 * default when no `downloadDir` is given) loses nothing of theirs.
 */
const OURS = /^(full|delta)-[0-9A-Za-z_.-]+\.bundle(\.\d+)?\.download(\.json(\.tmp)?)?$/;
/** pages are hashed in slices of this, with a turn of the event loop between them */
const HASH_SLICE = 256 * 1024;

export interface BundleDownloadOptions {
  /**
   * free space kept on the download directory's disk (the lane's data disk: the journal's) beyond the rest
   * of the bundle: a download neither starts nor goes on with less; default FREE_SPACE_MARGIN
   * (src/datadir/free-space.ts, the margin a full list's build keeps too)
   */
  freeSpaceMargin?: number;
  /** the free space of the directory's disk; default node:fs/promises statfs */
  statfs?: (dir: string) => Promise<{ bavail: number | bigint; bsize: number | bigint }>;
}

/** Errors of a full disk. */
const DISK_FULL = new Set(["ENOSPC", "EDQUOT"]);

/**
 * Writes the whole of `buf` at `pos`: FileHandle.write may write fewer bytes than asked, without an error
 * (a disk filling up); the rest is written on, and a write of nothing is taken as a full disk.
 */
async function writeAll(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  for (let o = 0; o < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, o, buf.length - o, pos + o);
    if (!(bytesWritten > 0))
      throw Object.assign(new Error(`wrote none of the ${buf.length - o} bytes left at ${pos + o}`), {
        code: "ENOSPC",
      });
    o += bytesWritten;
  }
}

const sameBundle = (
  a: Pick<BundleInfo, "name" | "bytes" | "sha256" | "pageSize" | "pages">,
  b: BundleInfo,
): boolean =>
  a.name === b.name &&
  a.bytes === b.bytes &&
  a.sha256 === b.sha256 &&
  a.pageSize === b.pageSize &&
  a.pages === b.pages;

/** The length page `p` of `info` has: [p * pageSize, (p + 1) * pageSize) of the bundle. */
const pageLength = (info: BundleInfo, p: number): number =>
  Math.min(info.pageSize, info.bytes - p * info.pageSize);

export class BundleDownload {
  private cur: Current | null = null;
  private readonly margin: number;
  private readonly statfs: NonNullable<BundleDownloadOptions["statfs"]>;

  constructor(
    private readonly dir: string,
    private readonly source: PageSource,
    private readonly log: Logger,
    opts: BundleDownloadOptions = {},
  ) {
    this.margin = opts.freeSpaceMargin ?? FREE_SPACE_MARGIN;
    this.statfs = opts.statfs ?? ((d) => statfs(d));
  }

  /** The download under way: its bundle and how many of its pages are in (null: none). */
  get progress(): { name: string; pages: number; pagesDone: number } | null {
    const c = this.cur;
    return c ? { name: c.info.name, pages: c.info.pages, pagesDone: c.pagesDone } : null;
  }

  /**
   * Downloads up to `maxPages` more pages of `info`, resuming the download of the same bundle (in this
   * process or from the files a previous one left) and discarding that of any other. Returns the bundle's
   * file once every page is in and its length and SHA-256 match the manifest; null while pages remain.
   * A page the station fails to give throws (E611) and is asked for again at the next call; a page of the
   * wrong length, or a whole that does not match the manifest, throws E614 and discards the download. The
   * lane's own failure throws E615 (module comment): too little free space or a full disk discard the
   * download; any other (a directory that cannot be written, a file deleted) drops it from memory, to be
   * taken up from its files at the next call.
   */
  async step(info: BundleInfo, maxPages: number): Promise<string | null> {
    try {
      return await this.stepOn(info, maxPages);
    } catch (e) {
      if (isEtcError(e)) throw e;
      throw await this.localFailure(info, e);
    }
  }

  private async stepOn(info: BundleInfo, maxPages: number): Promise<string | null> {
    if (this.cur && !sameBundle(this.cur.info, info)) await this.discard();
    const c = this.cur ?? (await this.begin(info));
    const file = this.fileOf(info);
    if (c.pagesDone < info.pages) {
      await this.ensureRoom(c);
      const fh = await open(file, "r+");
      try {
        for (let n = 0; n < maxPages && c.pagesDone < info.pages; n++) await this.page(c, fh);
      } finally {
        await fh.close();
      }
      if (c.pagesDone < info.pages) return null;
    }
    const sha = c.hash.copy().digest("hex");
    if (c.fileBytes !== info.bytes || sha !== info.sha256) {
      await this.discard();
      throw new EtcError(
        JournalErrorCodes.StatusListBundle,
        `status-list bundle ${info.name}: got ${c.fileBytes} bytes sha256 ${sha.slice(0, 12)}…, ` +
          `manifest says ${info.bytes} bytes sha256 ${info.sha256.slice(0, 12)}…`,
        { name: info.name },
      );
    }
    return file;
  }

  /**
   * The disk must have room for the rest of the bundle and the margin; if not, the download is discarded
   * (its pages would hold the room the journal needs until the disk is freed) and E615 thrown.
   */
  private async ensureRoom(c: Current): Promise<void> {
    const s = await this.statfs(this.dir);
    const free = Number(s.bavail) * Number(s.bsize);
    const rest = c.info.bytes - c.fileBytes;
    if (free >= rest + this.margin) return;
    await this.discard();
    throw new EtcError(
      JournalErrorCodes.StatusListLocal,
      `status-list bundle ${c.info.name}: ${free} bytes free in ${this.dir}, the ${rest} bytes left of the ` +
        `bundle and ${this.margin} kept free need more: not downloaded`,
      { name: c.info.name, free, rest, margin: this.margin },
    );
  }

  /** The lane's own failure `e` (not an EtcError): the download discarded (a full disk) or dropped. */
  private async localFailure(info: BundleInfo, e: unknown): Promise<EtcError> {
    const errno = (e as NodeJS.ErrnoException | null)?.code;
    const full = typeof errno === "string" && DISK_FULL.has(errno);
    if (full) await this.discard();
    else this.cur = null;
    const message = e instanceof Error ? e.message : String(e);
    return new EtcError(
      JournalErrorCodes.StatusListLocal,
      `status-list bundle ${info.name}: ${full ? "the disk is full, download discarded" : "download failed on the lane's disk"}: ${message}`,
      { name: info.name, errno: errno ?? null },
      { cause: e },
    );
  }

  /** The bundle was applied or refused: its file and progress go. */
  async finish(): Promise<void> {
    await this.discard();
  }

  /**
   * The bundle could not be applied for the lane's own reason and is to be tried again: its files stay,
   * dropped from memory, so the next step takes them up as after a restart (the progress matched, the
   * file's length and SHA-256 checked again; from page 0 when they are gone).
   */
  release(): void {
    this.cur = null;
  }

  /** The station has nothing newer: a download left unfinished (by this process or an earlier one) goes. */
  async abandon(): Promise<void> {
    await this.discard();
    await this.removeLeftovers();
  }

  private fileOf(info: BundleInfo): string {
    return join(this.dir, `${info.name}${SUFFIX}`);
  }

  private progressOf(info: BundleInfo): string {
    return join(this.dir, `${info.name}${PROGRESS_SUFFIX}`);
  }

  /** One page: fetched, length checked, hashed, written at its place, progress noted. */
  private async page(c: Current, fh: FileHandle): Promise<void> {
    const info = c.info;
    const p = c.pagesDone;
    let page: Buffer;
    try {
      page = await this.source.bundlePage(info, p);
    } catch (e) {
      // a page longer than the manifest gives it (StationClient.bundlePage): discarded as a short one is
      if (isEtcError(e) && e.code === JournalErrorCodes.StatusListBundle) await this.discard();
      throw e;
    }
    const want = pageLength(info, p);
    if (page.length !== want) {
      await this.discard();
      throw new EtcError(
        JournalErrorCodes.StatusListBundle,
        `status-list bundle ${info.name}: page ${p + 1}/${info.pages} has ${page.length} bytes, the manifest's ` +
          `${info.bytes} bytes in pages of ${info.pageSize} give it ${want}`,
        { name: info.name, page: p },
      );
    }
    // the hash and the counts move only once the whole page is written: a write that fails leaves them
    // as they were (step then discards the download or drops it, module comment)
    const hash = c.hash.copy();
    for (let o = 0; o < page.length; o += HASH_SLICE) {
      hash.update(page.subarray(o, o + HASH_SLICE));
      if (o + HASH_SLICE < page.length) await nextTurn();
    }
    await writeAll(fh, page, c.fileBytes);
    c.hash = hash;
    c.fileBytes += page.length;
    c.pagesDone++;
    await this.saveProgress(c);
  }

  private async saveProgress(c: Current): Promise<void> {
    const { name, bytes, sha256, pageSize, pages } = c.info;
    const p: Progress = {
      v: 1,
      name,
      bytes,
      sha256,
      pageSize,
      pages,
      pagesDone: c.pagesDone,
      fileBytes: c.fileBytes,
    };
    const to = this.progressOf(c.info);
    await writeFile(`${to}.tmp`, JSON.stringify(p));
    await rename(`${to}.tmp`, to);
  }

  /** The download of `info`: resumed from the files a previous one left, else started afresh. */
  private async begin(info: BundleInfo): Promise<Current> {
    const resumed = await this.resume(info);
    if (resumed) {
      this.log.info(
        { bundle: info.name, page: resumed.pagesDone, pages: info.pages },
        "status-list bundle download resumed",
      );
      this.cur = resumed;
      return resumed;
    }
    await mkdir(this.dir, { recursive: true });
    await this.removeLeftovers();
    await writeFile(this.fileOf(info), Buffer.alloc(0));
    const c: Current = { info, hash: createHash("sha256"), pagesDone: 0, fileBytes: 0 };
    await this.saveProgress(c);
    this.cur = c;
    return c;
  }

  /** The progress a previous download of the same bundle left, with the hash of its pages rebuilt. */
  private async resume(info: BundleInfo): Promise<Current | null> {
    let p: Progress;
    try {
      p = JSON.parse(await readFile(this.progressOf(info), "utf8")) as Progress;
    } catch {
      return null;
    }
    const valid =
      p?.v === 1 &&
      sameBundle(p, info) &&
      Number.isSafeInteger(p.pagesDone) &&
      p.pagesDone >= 0 &&
      p.pagesDone <= info.pages &&
      p.fileBytes === Math.min(info.bytes, p.pagesDone * info.pageSize);
    if (!valid) return null;
    const file = this.fileOf(info);
    const size = await stat(file).then(
      (s) => s.size,
      () => -1,
    );
    if (size < p.fileBytes) return null;
    const hash = createHash("sha256");
    const fh = await open(file, "r+");
    try {
      await fh.truncate(p.fileBytes); // anything past the last page counted was not
      const buf = Buffer.allocUnsafe(HASH_SLICE);
      for (let o = 0; o < p.fileBytes; ) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(HASH_SLICE, p.fileBytes - o), o);
        if (bytesRead === 0) return null;
        hash.update(buf.subarray(0, bytesRead));
        o += bytesRead;
      }
    } finally {
      await fh.close();
    }
    return { info, hash, pagesDone: p.pagesDone, fileBytes: p.fileBytes };
  }

  private async discard(): Promise<void> {
    const c = this.cur;
    this.cur = null;
    if (!c) return;
    await unlink(this.fileOf(c.info)).catch(() => undefined);
    await unlink(this.progressOf(c.info)).catch(() => undefined);
  }

  /** Downloads of other bundles (and of earlier versions, named with their process id) left behind. */
  private async removeLeftovers(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const n of names) if (OURS.test(n)) await unlink(join(this.dir, n)).catch(() => undefined);
  }
}
