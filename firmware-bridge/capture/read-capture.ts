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
import { readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Variant } from "../framing/types.js";
import { dialectFromTerms, type RecordedDialect } from "./dialect-terms.js";
import {
  type CaptureInterface,
  LINKTYPE_RTAC_SERIAL,
  type ParsedCapture,
  parsePcapng,
  RTAC_EVENT,
  runOfComments,
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

export interface Capture {
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
  /** blocks skipped, each `FILE: skipped block at byte N: why`; the blocks after them were read */
  readonly skipped: string[];
  /**
   * what may have been given in the wrong order: a run given after another of the same prefix whose run
   * number is as high or higher (newest files first, or two collections whose numbering started again),
   * naming both runs and a file of each; absent: none
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
 * What tells the run of interface `iface` of a file: the run its description names, else the run its
 * section header names, else the file's name.
 */
function runOfInterface(
  file: string,
  parsed: ParsedCapture,
  iface: CaptureInterface,
): { key: string; name: string } {
  const named =
    runOfComments(iface.comments) ?? runOfComments(parsed.sections[iface.section]?.comments ?? []);
  return named === undefined ? runOfFile(file) : { key: `run:${named}`, name: named };
}

function describePort(run: number, name: string, description: string): CapturePort {
  const m = /protocol=(legacy|national)\b/.exec(description);
  const speaks = /protocol=([a-z0-9-]+)/.exec(description)?.[1];
  const interByteMs = /(?:^|\s)inter-byte-ms=(\d+(?:\.\d+)?)(?:\s|$)/.exec(description)?.[1];
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

interface RawRecord {
  us: bigint;
  port: string;
  dir: CaptureRecord["dir"];
  bytes: Buffer;
  state?: string;
  note?: string;
}

/** A run as its files are read: its files, its ports by name (the first description of a name), its records. */
interface RunRead {
  index: number;
  key: string;
  name: string;
  files: string[];
  ports: Map<string, CapturePort>;
  raw: RawRecord[];
}

export function readCapture(files: string[]): Capture {
  /** the runs, in the order the first of their interfaces was given */
  const runs: RunRead[] = [];
  const byKey = new Map<string, RunRead>();
  const runOf = (key: string, name: string): RunRead => {
    let run = byKey.get(key);
    if (run === undefined) {
      run = { index: runs.length, key, name, files: [], ports: new Map(), raw: [] };
      runs.push(run);
      byKey.set(key, run);
    }
    return run;
  };
  /** by what tells a file's run from its name: the run of the first file so named (for files with nothing in them) */
  const byFileName = new Map<string, RunRead>();
  const truncated: string[] = [];
  const skipped: string[] = [];
  for (const file of files) {
    let parsed: ReturnType<typeof parsePcapng>;
    try {
      parsed = parsePcapng(readFileSync(file));
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
    const named = runOfFile(file);
    const inFile = (run: RunRead): void => {
      if (run.files.at(-1) !== file) run.files.push(file);
    };
    /** each interface's run */
    const runOfIface = new Map<CaptureInterface, RunRead>();
    for (const i of parsed.interfaces) {
      const { key, name } = runOfInterface(file, parsed, i);
      const run = runOf(key, name);
      runOfIface.set(i, run);
      inFile(run);
      if (!byFileName.has(named.key)) byFileName.set(named.key, run);
      // every file of a run describes its ports again (./capture-writer.ts): the first description counts
      if (!run.ports.has(i.name)) run.ports.set(i.name, describePort(run.index, i.name, i.description));
    }
    // a file that describes no port (cut before its section header, or right after it) says no run: the
    // run of the files named as it is, else one of its own
    if (parsed.interfaces.length === 0) inFile(byFileName.get(named.key) ?? runOf(named.key, named.name));
    if (parsed.truncated) truncated.push(`${file}: ${parsed.truncated}`);
    // This file's skipped blocks, in file order.
    const bad = [...parsed.skipped];
    const skip = (offset: number, why: string): void => {
      bad.push({ offset, why });
    };
    for (const p of parsed.packets) {
      const dir =
        p.event === RTAC_EVENT.dataTx
          ? "tx"
          : p.event === RTAC_EVENT.dataRx
            ? "rx"
            : p.event === RTAC_EVENT.statusChange
              ? "state"
              : undefined;
      if (!dir) {
        skip(
          p.offset,
          p.event !== undefined
            ? `RTAC event type ${p.event.toString(16).padStart(2, "0")}, not one a capture writes (00, 01, 02)`
            : p.iface.linkType !== LINKTYPE_RTAC_SERIAL
              ? `interface "${p.iface.name}" has link type ${p.iface.linkType}, not RTAC serial (${LINKTYPE_RTAC_SERIAL})`
              : `${p.bytes.length} byte(s), shorter than the 12-byte RTAC serial header`,
        );
        continue;
      }
      (runOfIface.get(p.iface) as RunRead).raw.push({
        us: p.us,
        port: p.iface.name,
        dir,
        bytes: p.bytes,
        ...(dir === "state"
          ? { state: p.comment ?? "" }
          : p.comment !== undefined
            ? { note: p.comment }
            : {}),
      });
    }
    bad.sort((a, b) => a.offset - b.offset);
    for (const b of bad) skipped.push(`${file}: skipped block at byte ${b.offset}: ${b.why}`);
  }
  const records: CaptureRecord[] = [];
  const captureRuns: CaptureRun[] = [];
  let start = 0;
  for (const [index, run] of runs.entries()) {
    // Within a run, by time (a stable sort keeps same-instant records in file order); never across runs,
    // whose clocks cannot be compared.
    run.raw.sort((a, b) => (a.us < b.us ? -1 : a.us > b.us ? 1 : 0));
    const us0 = run.raw[0]?.us;
    captureRuns.push({
      name: run.name,
      files: run.files,
      t: start,
      ...(us0 !== undefined ? { wallMs: Number(us0 / 1000n) } : {}),
    });
    for (const r of run.raw) {
      records.push({
        t: start + Number(r.us - (us0 as bigint)) / 1000,
        run: index,
        wallMs: Number(r.us / 1000n),
        port: r.port,
        dir: r.dir,
        bytes: r.bytes,
        ...(r.state !== undefined ? { state: r.state } : {}),
        ...(r.note !== undefined ? { note: r.note } : {}),
      });
    }
    start = records.at(-1)?.t ?? start;
  }
  return {
    files,
    runs: captureRuns,
    ports: runs.flatMap((r) => [...r.ports.values()]),
    records,
    truncated,
    skipped,
    warnings: outOfOrder(runs),
  };
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
