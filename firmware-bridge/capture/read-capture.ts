/**
 * Reading captures back: one or more capture files as one timeline of records per port and direction.
 * `etc-lane decode --capture` and `etc-sim replay` use it.
 *
 * The files are read as runs. A run is what one capture writer wrote (one start of the lane,
 * ./capture-writer.ts). Its files name it in their section header and in each interface description
 * (`capture run: <prefix>-r<run>-<start>`, ./pcapng.ts), so each record belongs to the run its interface
 * names, else the run its section names: a run's files renamed (`editcap` splits), a file holding several
 * runs (files put one after another, or merged by `mergecap`) are still read run by run. Files written
 * before the writer named its run in them go by their names: the files of one directory named alike up to
 * their file number (`<prefix>-r<run>-<start>-<n>.pcapng`) are one run (a rotated capture), and a file
 * named otherwise is a run of its own. Each run has its own timestamp base (the wall clock read once at
 * its start, which a lane booted with its clock behind reads years early), so records are put in time
 * order within a run only, and the runs follow each other in the order the first of their interfaces was
 * given, the next starting where the previous ended; each run's ports are described by its own interfaces (a
 * restart may have changed the protocol, the dialect or the deframer limits). A run given after one of
 * the same prefix with a run number as high or higher gets a warning (`Capture.warnings`).
 */
import { closeSync, fstatSync, openSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Variant } from "../framing/types.js";
import { dialectFromTerms, type RecordedDialect } from "./dialect-terms.js";
import {
  type CaptureInterface,
  type CapturePacket,
  type CaptureSection,
  FILE_CHUNK_BYTES,
  fileSource,
  LINKTYPE_RTAC_SERIAL,
  RTAC_EVENT,
  runOfComments,
  type ScanState,
  scanPcapng,
} from "./pcapng.js";

export interface CapturePort {
  /** which of the capture's runs it belongs to (an index into `Capture.runs`); absent: the first */
  readonly run?: number;
  readonly name: string;
  readonly description: string;
  /** from the description's "protocol=legacy|national", when it says */
  readonly protocol: Variant | undefined;
  /** the description's "protocol=..." as written ("legacy", "national", "etc-reader"), when it says */
  readonly speaks: string | undefined;
  /** the inter-byte timeout (ms) the port's deframer applied: the description's "inter-byte-ms=N", when it says */
  readonly interByteMs?: number;
  /** the largest frame the port's deframer accepted: the description's "max-frame-length=N", when it says */
  readonly maxFrameLength?: number;
  /**
   * the dialect settings the port's description records (station-length=..., ./dialect-terms.ts), when it
   * records any: the ones it does not record are the protocol's defaults
   */
  readonly dialect?: RecordedDialect;
}

export interface CaptureRecord {
  /**
   * ms since the first record of the capture (never decreasing): within a run the recorded time since its
   * first record, and each run starts where the previous one ended (their clocks cannot be compared)
   */
  readonly t: number;
  /** which of the capture's runs it belongs to (an index into `Capture.runs`); absent: the first */
  readonly run?: number;
  /** wall clock ms */
  readonly wallMs: number;
  readonly port: string;
  /** as seen by the side that captured: tx written, rx read, state a port state change */
  readonly dir: "tx" | "rx" | "state";
  readonly bytes: Buffer;
  /** for dir "state": open, closed, disconnected: why */
  readonly state?: string;
  /**
   * for dir "tx" or "rx": the block's comment, when it has one (a write that failed after its bytes may
   * have left: "write failed: why", firmware-bridge/capture/capture-transport.ts)
   */
  readonly note?: string;
  /**
   * for dir "tx" or "rx": the packet was cut to a snap length (`editcap -s`): this many bytes crossed the
   * port, `bytes` holds only the first of them
   */
  readonly cutFrom?: number;
}

/** One run of the lane: the files one capture writer wrote (see above). */
export interface CaptureRun {
  /**
   * the run its files name (`lane-4301-0102-03-r000002-20261202T162412.021`); for files that do not name
   * it, the file name up to its file number, else the file's name
   */
  readonly name: string;
  /** the files that hold its records or describe its ports, in the order given */
  readonly files: string[];
  /** `t` of its first record: where the previous run ended */
  readonly t: number;
  /** the wall clock of its first record, as recorded; absent when it has none */
  readonly wallMs?: number;
}

/** A packet cut to a snap length (`editcap -s`): a tool that reads one port asks only about its own. */
export interface CaptureCut {
  /** the port it crossed: its interface's name, as `CaptureRecord.port` */
  readonly port: string;
  /**
   * `FILE: packet at byte N on port "P" holds X of the Y bytes that crossed the port (...)`; for a file's
   * packets past the ones it names (CAPTURE_NAMED_PER_FILE), `FILE: N more packet(s) on port "P" cut to a
   * snap length, not named one by one (M in this file)`
   */
  readonly why: string;
  /** how many packets it stands for (the ones not named one by one); absent: 1 */
  readonly packets?: number;
}

/**
 * How many skipped blocks, and how many packets cut to a snap length on each port, a file names one by
 * one in `Capture.skipped` and `Capture.cut`; the rest are counted, in one line each. A file of the wrong
 * kind (an Ethernet capture given by mistake) would otherwise bring one line, and one string held, per
 * packet: millions.
 */
export const CAPTURE_NAMED_PER_FILE = 20;

/** How many packets `cut` says were cut to a snap length (each entry names one, or stands for `packets`). */
export const cutPackets = (cut: readonly CaptureCut[]): number =>
  cut.reduce((n, c) => n + (c.packets ?? 1), 0);

export interface Capture {
  /** the files given, each once (a file given again is left out: `warnings`) */
  readonly files: string[];
  /** the runs, in the order their files were given; absent: one run */
  readonly runs?: CaptureRun[];
  /** every run's ports, each as its run's files describe it */
  readonly ports: CapturePort[];
  readonly records: CaptureRecord[];
  /**
   * files read only up to a block whose length cannot be right or that is cut short (the process died
   * while writing), each `FILE: why`, naming the byte offset; and files cut before their section header
   * was whole (empty, ended inside it, only zero bytes: nothing in them is read), each `FILE: why`. The
   * other files are read.
   */
  readonly truncated: string[];
  /**
   * blocks skipped, each `FILE: skipped block at byte N: why`, the first CAPTURE_NAMED_PER_FILE of a file,
   * then `FILE: N more block(s) skipped, not named one by one (M in this file)`; the packets of an interface
   * of another link type in one line, `FILE: interface "NAME" has link type N, not RTAC serial (250): its N
   * packet(s) are skipped, the first at byte N`. The blocks after them were read
   */
  readonly skipped: string[];
  /** how many blocks were skipped, named or counted (absent: `skipped.length`) */
  readonly skippedBlocks?: number;
  /**
   * files not read at all (they cannot be opened or read, or are no pcapng), each `FILE: why`; the other
   * files are read. Absent: none
   */
  readonly unreadable?: string[];
  /**
   * packets cut to a snap length (their captured length below their original length: `editcap -s`), each
   * with the port it crossed and `FILE: packet at byte N on port "P" holds X of the Y bytes...`, the first
   * CAPTURE_NAMED_PER_FILE of a file and port, then one entry for the rest (`packets`, cutPackets); their
   * records have `cutFrom`. Absent: none
   */
  readonly cut?: CaptureCut[];
  /**
   * files given more than once, each read once (`FILE: the same file as FIRST (given twice): read once`),
   * then what may have been given in the wrong order: a run given after another of the same prefix whose
   * run number is as high or higher (newest files first, or two collections whose numbering started
   * again), naming both runs and a file of each; absent: none
   */
  readonly warnings?: string[];
}

/** A capture writer's file name: the run's name (1) and the file number. */
const WRITER_FILE = /^(.+-\d{8}T\d{6}\.\d{3})-\d+\.pcapng$/;

/** A run's name: its prefix (1) and run number (2). */
const RUN_NAME = /^(.+)-r(\d+)-\d{8}T\d{6}\.\d{3}$/;

/**
 * What tells the run of a file that does not name it: its directory (resolved: `dir/x` and `./dir/x` are
 * one) and its name up to the file number, else the file itself.
 */
function runOfFile(file: string): { key: string; name: string } {
  const name = WRITER_FILE.exec(basename(file))?.[1];
  return name === undefined
    ? { key: `file:${resolve(file)}`, name: basename(file) }
    : { key: `file:${join(resolve(dirname(file)), name)}`, name };
}

/**
 * The inter-byte timeouts (ms) a port can have run with: the range the lane's config accepts
 * (src/config/schema.ts, `rsu.link.interByteTimeoutMs` and `reader.timeouts.interByteMs`), and
 * `etc-lane decode --inter-byte-ms` (src/cli/commands/decode.ts).
 */
export const MIN_INTER_BYTE_MS = 1;
export const MAX_INTER_BYTE_MS = 5000;

/**
 * A port as its description says. An "inter-byte-ms=N" outside the range a port can have run with is damage
 * (a huge one would put a half frame's expiry past any date): it is left out, the default applies, and `warn`
 * says so.
 */
function describePort(
  run: number,
  name: string,
  description: string,
  warn: (why: string) => void,
): CapturePort {
  const m = /protocol=(legacy|national)\b/.exec(description);
  const speaks = /protocol=([a-z0-9-]+)/.exec(description)?.[1];
  let interByteMs = /(?:^|\s)inter-byte-ms=(\d+(?:\.\d+)?)(?:\s|$)/.exec(description)?.[1];
  if (
    interByteMs !== undefined &&
    !(Number(interByteMs) >= MIN_INTER_BYTE_MS && Number(interByteMs) <= MAX_INTER_BYTE_MS)
  ) {
    warn(
      `port "${name}" says inter-byte-ms=${interByteMs}, not the ${MIN_INTER_BYTE_MS}..${MAX_INTER_BYTE_MS} ms the lane runs with: read with the default`,
    );
    interByteMs = undefined;
  }
  const maxFrameLength = /(?:^|\s)max-frame-length=(\d+)(?:\s|$)/.exec(description)?.[1];
  const dialect = dialectFromTerms(description);
  return {
    run,
    name,
    description,
    protocol: m?.[1] as Variant | undefined,
    speaks,
    ...(interByteMs !== undefined ? { interByteMs: Number(interByteMs) } : {}),
    ...(maxFrameLength !== undefined ? { maxFrameLength: Number(maxFrameLength) } : {}),
    ...(Object.keys(dialect).length > 0 ? { dialect } : {}),
  };
}

/**
 * One file's records of one run, from its first record's block to its last's (read by one cursor), and how
 * far its times go back: a write is stamped when it is handed to the port and recorded once it settles
 * (./capture-transport.ts), so a read recorded meanwhile comes before it in the file with a later time.
 */
interface Stretch {
  /** an index into the files given */
  file: number;
  /** the block offset of its first record, and the scan's state there */
  offset: number;
  state: ScanState;
  /** a block offset past its last record's (the scan stops before it) */
  end: number;
  /** the most a record's time is below the latest time before it in the stretch (0: it never goes back) */
  lagUs: bigint;
  /** the latest time so far (while the file is read through) */
  maxUs: bigint;
  /** its earliest time: its cursor is opened only once the records' time reaches it */
  minUs: bigint;
}

/** A packet and its place in its stretch, kept until no later packet of the stretch can come before it. */
interface Held {
  p: CapturePacket;
  n: number;
}

const heldBefore = (a: Held, b: Held): boolean => a.p.us < b.p.us || (a.p.us === b.p.us && a.n < b.n);

/** The held packets of a stretch, earliest first (same-instant ones in the stretch's order): a binary heap. */
class HeldPackets {
  private readonly h: Held[] = [];

  peek(): Held | undefined {
    return this.h[0];
  }

  push(x: Held): void {
    const h = this.h;
    let i = h.push(x) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!heldBefore(h[i] as Held, h[up] as Held)) break;
      [h[i], h[up]] = [h[up] as Held, h[i] as Held];
      i = up;
    }
  }

  pop(): Held | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && heldBefore(h[l] as Held, h[m] as Held)) m = l;
        if (r < h.length && heldBefore(h[r] as Held, h[m] as Held)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Held, h[i] as Held];
        i = m;
      }
    }
    return top;
  }
}

/** A run as its files are read: its files, its ports by name (the first description of a name), its stretches. */
interface RunRead {
  index: number;
  key: string;
  name: string;
  files: string[];
  ports: Map<string, CapturePort>;
  stretches: Stretch[];
  minUs?: bigint;
  maxUs?: bigint;
}

export interface ReadOptions {
  /** the bytes read from a file at a time (default FILE_CHUNK_BYTES; each stretch of a run being merged its own) */
  chunkBytes?: number;
}

/**
 * A capture whose records are read when asked for (`records()`), a file block by block: what it holds is
 * known first (its files were read through once, keeping no packet), its records then come one at a time.
 */
export interface CaptureStream extends Omit<Capture, "records"> {
  /**
   * The records, in Capture.records' order. Memory holds, for the run being read, one buffer of
   * `chunkBytes` for each of its files whose records are due (opened at its earliest time, closed when
   * used up), and each file's records that a later one of the file could still
   * come before: those within the farthest its times go back (Stretch.lagUs: milliseconds in a file the
   * writer wrote). Throws, naming the file, when a file cannot be read again.
   */
  records(): Generator<CaptureRecord>;
}

const dirOf = (event: number | undefined): CaptureRecord["dir"] | undefined =>
  event === RTAC_EVENT.dataTx
    ? "tx"
    : event === RTAC_EVENT.dataRx
      ? "rx"
      : event === RTAC_EVENT.statusChange
        ? "state"
        : undefined;

/** A packet's interface, as a file's scan names it wherever it starts: its section and its index there. */
const ifaceKey = (i: CaptureInterface): string => `${i.section}/${i.id}`;

/**
 * The files given, each once: a file given again (another path to it, a link to it, overlapping globs) is
 * left out, with a warning naming both paths; read twice, its every record would come out twice (and a
 * replay would send every RSU frame twice). A file is known by its device and inode (links followed); one
 * that cannot be looked at is known by its path (its reading then says why it is not read).
 */
function eachFileOnce(given: string[]): { files: string[]; warnings: string[] } {
  const seen = new Map<string, string>();
  const files: string[] = [];
  const warnings: string[] = [];
  for (const file of given) {
    let key: string;
    try {
      // as bigints: an inode number past 2^53 (overlayfs puts bits up there) is exact only so
      const st = statSync(file, { bigint: true });
      key = `${st.dev}:${st.ino}`;
    } catch {
      key = `path:${resolve(file)}`;
    }
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, file);
      files.push(file);
    } else warnings.push(`${file}: the same file as ${first} (given twice): read once`);
  }
  return { files, warnings };
}

/**
 * Reads the capture `files` through once, a block at a time (./pcapng.ts scanPcapng), keeping what they
 * hold but no packet; `records()` reads them again for the records. A file that cannot be opened or read,
 * or is no pcapng, is listed in `unreadable` (the others are read). A file given more than once is read
 * once, and `warnings` says so (eachFileOnce).
 */
export function openCapture(given: string[], opts: ReadOptions = {}): CaptureStream {
  const { files, warnings: givenTwice } = eachFileOnce(given);
  /** ports whose description says what they cannot have run with (describePort) */
  const portWarnings: string[] = [];
  const chunk = opts.chunkBytes ?? FILE_CHUNK_BYTES;
  /** the runs, in the order the first of their interfaces was given */
  const runs: RunRead[] = [];
  const byKey = new Map<string, RunRead>();
  const runOf = (key: string, name: string): RunRead => {
    let run = byKey.get(key);
    if (run === undefined) {
      run = { index: runs.length, key, name, files: [], ports: new Map(), stretches: [] };
      runs.push(run);
      byKey.set(key, run);
    }
    return run;
  };
  /** by what tells a file's run from its name: the run of the first file so named (for files with nothing in them) */
  const byFileName = new Map<string, RunRead>();
  const truncated: string[] = [];
  const skipped: string[] = [];
  let skippedBlocks = 0;
  const unreadable: string[] = [];
  const cut: CaptureCut[] = [];
  /** per file given: the run of each of its interfaces (ifaceKey) */
  const ifaceRuns: Map<string, number>[] = [];
  for (const [fileIndex, file] of files.entries()) {
    const ifaceRun = new Map<string, number>();
    ifaceRuns.push(ifaceRun);
    const named = runOfFile(file);
    const inFile = (run: RunRead): void => {
      if (run.files.at(-1) !== file) run.files.push(file);
    };
    const sections: CaptureSection[] = [];
    let interfaces = 0;
    // what this file skipped: the first CAPTURE_NAMED_PER_FILE named, the rest counted
    let skippedHere = 0;
    const skip = (why: string): void => {
      skippedBlocks++;
      if (++skippedHere <= CAPTURE_NAMED_PER_FILE) skipped.push(why);
    };
    /** the packets of each interface of another link type (ifaceKey): one line each, with the count */
    const foreign = new Map<string, { iface: CaptureInterface; packets: number; first: number }>();
    /** the packets cut to a snap length on each port: the first CAPTURE_NAMED_PER_FILE named */
    const cutHere = new Map<string, number>();
    /** each run's stretch in this file */
    const open = new Map<RunRead, Stretch>();
    let fd: number | undefined;
    let failed = false;
    try {
      fd = openSync(file, "r");
      for (const item of scanPcapng(fileSource(fd, fstatSync(fd).size, chunk))) {
        if (item.kind === "section") sections.push(item.section);
        else if (item.kind === "interface") {
          const i = item.iface;
          interfaces++;
          // the run its description names, else the run its section header names, else the file's name
          const says = runOfComments(i.comments) ?? runOfComments(sections[i.section]?.comments ?? []);
          const { key, name } = says === undefined ? runOfFile(file) : { key: `run:${says}`, name: says };
          const run = runOf(key, name);
          ifaceRun.set(ifaceKey(i), run.index);
          inFile(run);
          if (!byFileName.has(named.key)) byFileName.set(named.key, run);
          // every file of a run describes its ports again (./capture-writer.ts): the first description counts
          if (!run.ports.has(i.name))
            run.ports.set(
              i.name,
              describePort(run.index, i.name, i.description, (why) => portWarnings.push(`${file}: ${why}`)),
            );
        } else if (item.kind === "skipped")
          skip(`${file}: skipped block at byte ${item.block.offset}: ${item.block.why}`);
        else if (item.kind === "truncated") truncated.push(`${file}: ${item.why}`);
        else {
          const p = item.packet;
          if (p.event === undefined && p.iface.linkType !== LINKTYPE_RTAC_SERIAL) {
            const f = foreign.get(ifaceKey(p.iface));
            if (f === undefined)
              foreign.set(ifaceKey(p.iface), { iface: p.iface, packets: 1, first: p.offset });
            else f.packets++;
            skippedBlocks++;
            continue;
          }
          if (!dirOf(p.event)) {
            skip(
              `${file}: skipped block at byte ${p.offset}: ${
                p.event !== undefined
                  ? `RTAC event type ${p.event.toString(16).padStart(2, "0")}, not one a capture writes (00, 01, 02)`
                  : `${p.bytes.length} byte(s), shorter than the 12-byte RTAC serial header`
              }`,
            );
            continue;
          }
          if (p.cutFrom !== undefined) {
            const n = (cutHere.get(p.iface.name) ?? 0) + 1;
            cutHere.set(p.iface.name, n);
            if (n <= CAPTURE_NAMED_PER_FILE)
              cut.push({
                port: p.iface.name,
                why: `${file}: packet at byte ${p.offset} on port "${p.iface.name}" holds ${p.bytes.length} of the ${p.cutFrom} bytes that crossed the port (the capture was cut to a snap length, as editcap -s does)`,
              });
          }
          const run = runs[ifaceRun.get(ifaceKey(p.iface)) as number] as RunRead;
          if (run.minUs === undefined || p.us < run.minUs) run.minUs = p.us;
          if (run.maxUs === undefined || p.us > run.maxUs) run.maxUs = p.us;
          const o = open.get(run);
          if (o === undefined) {
            // the run's first record in this file
            const stretch: Stretch = {
              file: fileIndex,
              offset: p.offset,
              state: item.state(),
              end: p.offset + 1,
              lagUs: 0n,
              maxUs: p.us,
              minUs: p.us,
            };
            run.stretches.push(stretch);
            open.set(run, stretch);
          } else {
            o.end = p.offset + 1;
            if (p.us > o.maxUs) o.maxUs = p.us;
            else if (o.maxUs - p.us > o.lagUs) o.lagUs = o.maxUs - p.us;
            if (p.us < o.minUs) o.minUs = p.us;
          }
        }
      }
    } catch (e) {
      unreadable.push(`${file}: ${(e as Error).message}`);
      failed = true;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    if (skippedHere > CAPTURE_NAMED_PER_FILE)
      skipped.push(
        `${file}: ${skippedHere - CAPTURE_NAMED_PER_FILE} more block(s) skipped, not named one by one (${skippedHere} in this file)`,
      );
    for (const { iface, packets, first } of foreign.values())
      skipped.push(
        `${file}: interface "${iface.name}" has link type ${iface.linkType}, not RTAC serial (${LINKTYPE_RTAC_SERIAL}): its ${packets} packet(s) are skipped, the first at byte ${first}`,
      );
    for (const [port, n] of cutHere)
      if (n > CAPTURE_NAMED_PER_FILE)
        cut.push({
          port,
          packets: n - CAPTURE_NAMED_PER_FILE,
          why: `${file}: ${n - CAPTURE_NAMED_PER_FILE} more packet(s) on port "${port}" cut to a snap length, not named one by one (${n} in this file)`,
        });
    // a file that describes no port (cut before its section header, or right after it) says no run: the
    // run of the files named as it is, else one of its own
    if (interfaces === 0 && !failed) inFile(byFileName.get(named.key) ?? runOf(named.key, named.name));
  }
  const captureRuns: CaptureRun[] = [];
  /** each run's start (`t` of its first record) */
  const starts: number[] = [];
  let start = 0;
  for (const run of runs) {
    starts.push(start);
    captureRuns.push({
      name: run.name,
      files: run.files,
      t: start,
      ...(run.minUs !== undefined ? { wallMs: Number(run.minUs / 1000n) } : {}),
    });
    if (run.minUs !== undefined) start += Number((run.maxUs as bigint) - run.minUs) / 1000;
  }
  function* records(): Generator<CaptureRecord> {
    /** the files open, and how many open cursors read each */
    const fds = new Map<number, { fd: number; users: number }>();
    const release = (file: number): void => {
      const f = fds.get(file);
      if (f === undefined || --f.users > 0) return;
      fds.delete(file);
      closeSync(f.fd);
    };
    try {
      for (const run of runs) {
        if (run.minUs === undefined) continue;
        const us0 = run.minUs;
        const t0 = starts[run.index] as number;
        // One cursor per stretch (a file's records of the run); the records by time, same-instant ones in the
        // order given (a stable sort's order): a run's records are never put in time order across runs,
        // whose clocks differ. A cursor holds a packet until no later one of its stretch can come before
        // it: every later one is at least (the latest time read) - lagUs. A cursor (its file open, its buffer)
        // is opened only once the records' time reaches its stretch's earliest and closed when it is used
        // up: a run's files that follow each other in time are read one after the other.
        const openCursor = (s: Stretch, index: number) => {
          const file = files[s.file] as string;
          let f = fds.get(s.file);
          if (f === undefined) {
            try {
              f = { fd: openSync(file, "r"), users: 0 };
            } catch (e) {
              throw new Error(`${file}: ${(e as Error).message}`);
            }
            fds.set(s.file, f);
          }
          f.users++;
          const fd = f.fd;
          const source = fileSource(fd, fstatSync(fd).size, chunk);
          const scan = scanPcapng(source, { offset: s.offset, state: s.state, end: s.end });
          const ifaceRun = ifaceRuns[s.file] as Map<string, number>;
          const read = (): CapturePacket | undefined => {
            try {
              for (;;) {
                const r = scan.next();
                if (r.done) return undefined;
                const item = r.value;
                if (item.kind !== "packet") continue;
                if (ifaceRun.get(ifaceKey(item.packet.iface)) !== run.index || !dirOf(item.packet.event))
                  continue;
                return item.packet;
              }
            } catch (e) {
              throw new Error(`${file}: ${(e as Error).message}`);
            }
          };
          const held = new HeldPackets();
          let latest: bigint | undefined;
          let n = 0;
          let ended = false;
          const next = (): CapturePacket | undefined => {
            for (;;) {
              const top = held.peek();
              if (top !== undefined && (ended || top.p.us <= (latest as bigint) - s.lagUs))
                return (held.pop() as Held).p;
              if (ended) return undefined;
              const p = read();
              if (p === undefined) ended = true;
              else {
                if (latest === undefined || p.us > latest) latest = p.us;
                held.push({ p, n: n++ });
              }
            }
          };
          return { index, file: s.file, head: next(), next };
        };
        type Cursor = ReturnType<typeof openCursor>;
        // the stretches by their earliest time, same-instant ones in the order given
        const due = run.stretches
          .map((s, index) => ({ s, index }))
          .sort((a, b) => (a.s.minUs < b.s.minUs ? -1 : a.s.minUs > b.s.minUs ? 1 : a.index - b.index));
        let nextDue = 0;
        /** the cursors open, each with a packet at its head (one used up is closed) */
        const open: Cursor[] = [];
        const earliest = (): Cursor | undefined => {
          let best: Cursor | undefined;
          for (const c of open) {
            const h = c.head as CapturePacket;
            const b = best?.head;
            if (b === undefined || h.us < b.us || (h.us === b.us && c.index < (best as Cursor).index))
              best = c;
          }
          return best;
        };
        for (;;) {
          // every stretch that could hold a record at or before the earliest one open is opened first
          for (;;) {
            const d = due[nextDue];
            if (d === undefined) break;
            const head = earliest()?.head;
            if (head !== undefined && d.s.minUs > head.us) break;
            nextDue++;
            const c = openCursor(d.s, d.index);
            if (c.head === undefined) release(c.file);
            else open.push(c);
          }
          const chosen = earliest();
          const p = chosen?.head;
          if (chosen === undefined || p === undefined) break;
          chosen.head = chosen.next();
          if (chosen.head === undefined) {
            open.splice(open.indexOf(chosen), 1);
            release(chosen.file);
          }
          const dir = dirOf(p.event) as CaptureRecord["dir"];
          yield {
            t: t0 + Number(p.us - us0) / 1000,
            run: run.index,
            wallMs: Number(p.us / 1000n),
            port: p.iface.name,
            dir,
            bytes: p.bytes,
            ...(dir === "state"
              ? { state: p.comment ?? "" }
              : p.comment !== undefined
                ? { note: p.comment }
                : {}),
            ...(p.cutFrom !== undefined ? { cutFrom: p.cutFrom } : {}),
          };
        }
      }
    } finally {
      for (const f of fds.values()) closeSync(f.fd);
    }
  }
  return {
    files,
    runs: captureRuns,
    ports: runs.flatMap((r) => [...r.ports.values()]),
    truncated,
    skipped,
    skippedBlocks,
    unreadable,
    cut,
    warnings: [...givenTwice, ...portWarnings, ...outOfOrder(runs)],
    records,
  };
}

/** The capture `files` with all their records in memory (openCapture reads them one at a time). */
export function readCapture(files: string[], opts: ReadOptions = {}): Capture {
  const stream = openCapture(files, opts);
  const { records, ...rest } = stream;
  return { ...rest, records: [...records()] };
}

/**
 * A warning for each run given after one of the same prefix whose run number is as high or higher (the
 * highest of them): the files were given newest first, or come from two collections of one lane's files
 * whose run numbers started again (./capture-writer.ts numbers from r000001 in a directory left without
 * the lane's files). The runs are read in the order given all the same.
 */
function outOfOrder(runs: RunRead[]): string[] {
  const numbered = runs.map((r) => {
    const m = RUN_NAME.exec(r.name);
    return m === null ? undefined : { run: r, prefix: m[1] as string, n: Number(m[2]) };
  });
  const warnings: string[] = [];
  for (const [j, later] of numbered.entries()) {
    if (later === undefined) continue;
    let before: (typeof numbered)[number];
    for (const e of numbered.slice(0, j)) {
      if (e?.prefix === later.prefix && e.n >= later.n && (before === undefined || e.n > before.n))
        before = e;
    }
    if (before === undefined) continue;
    warnings.push(
      `${later.run.files[0]}: run ${later.run.name} is given after run ${before.run.name} (${before.run.files[0]}), ` +
        `whose run number is ${before.n > later.n ? "higher" : "the same"}: the runs are read in the order given; ` +
        "give each lane's files in the order they were written (a directory left without the lane's capture " +
        "files numbers its runs from r000001 again: keep each collection in its own folder)",
    );
  }
  return warnings;
}
