/**
 * The checks of a lane config that look past the YAML: the files it names (station key, tariff, token
 * files, the log file, the serial ports' devices) and the limits of the paths it derives (the control
 * socket in dataDir). The schema
 * (./schema.ts) checks each value on its own; this checks what those values point at.
 *
 * `etc-lane run` calls it before it opens anything (log file, data directory, journal), and
 * `etc-lane run --check` calls the same function, so a config that passes --check is not refused by run
 * for any of these, except a log.file only its open can refuse (src/log.ts; run names log.file then).
 * It only reads: it creates no directory, takes no lock, writes no database (a journal already in dataDir
 * is read for its lane, schema version and damage note: ./journal-owner.ts). Every problem is reported at
 * once, each as `field: what was expected`, as the schema's errors are.
 */
import {
  accessSync,
  constants,
  existsSync,
  lstatSync,
  readFileSync,
  realpathSync,
  type Stats,
  statSync,
} from "node:fs";
import { dirname, isAbsolute } from "node:path";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import { captureDirFileSystemNote, dataDirFileSystemNote } from "../datadir/fs-type.js";
import { type LaneStartOptions, laneStartProblem } from "../datadir/lane-start.js";
import { UNRECORDED_STOPS } from "../lane/stop-reasons.js";
import { CONTROL_SOCKET_FILE, controlSocketPath, MAX_SOCKET_PATH } from "../service/control/protocol.js";
import { holdsPrivateKey, loadPublicKey } from "../status-list/bundle.js";
import { isRepositoryTestKey } from "../status-list/test-key.js";
import { Tariff } from "../tariff/tariff.js";
import { captureRoomNotes } from "./capture-room.js";
import { dataDirJournalProblems } from "./journal-owner.js";
import { ignoredTariff, type LaneConfig, laneTariffPath } from "./schema.js";
import { readTokenFile } from "./token-file.js";

export interface LaneConfigProblem {
  /** the config field, e.g. "statusList.publicKey" */
  path: string;
  /** what was wrong and what was expected */
  message: string;
}

export interface PreflightOptions {
  /** false: the lane runs without its station uplink (station.tokenFile is then not read); default true */
  uplink?: boolean;
  /**
   * `run --check`: also whether `run` (with `--init` or not) may start in `dataDir`: a journal there or a
   * first start, and its owner (src/datadir/lane-start.ts). `run` itself asks after this check, so that its
   * refusal keeps its own code (E412, E413).
   */
  start?: LaneStartOptions;
  /**
   * `run` itself (not `--check`): an enabled `capture.dir` the lane cannot write in or create is no problem
   * but a note (captureDirNotes, logged at error): the lane starts and captures nothing. One that is a file
   * or lies under a file is refused either way.
   */
  atRun?: boolean;
}

const reason = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Strips a leading `field: ` that a helper (readTokenFile) already put on its message. */
const withoutField = (field: string, msg: string): string =>
  msg.startsWith(`${field}: `) ? msg.slice(field.length + 2) : msg;

/** Every problem of `c` beyond its schema; an empty list when the lane can be started with it. */
export function laneConfigProblems(c: LaneConfig, opts: PreflightOptions = {}): LaneConfigProblem[] {
  const problems: LaneConfigProblem[] = [];
  const add = (path: string, message: string): void => {
    problems.push({ path, message });
  };

  // statusList.publicKey: a readable Ed25519 public key in PEM (the lane verifies every bundle with it), not
  // the simulator's test key unless statusList.allowTestKey says so
  let pem: Buffer | undefined;
  try {
    pem = readKeyFile(c.statusList.publicKey);
  } catch (e) {
    add("statusList.publicKey", `cannot read ${c.statusList.publicKey} (${reason(e)})`);
  }
  if (pem !== undefined && holdsPrivateKey(pem))
    add(
      "statusList.publicKey",
      `expected the station's Ed25519 public key, but ${c.statusList.publicKey} holds a private key ` +
        "(the station's signing key must not be on the lane: anyone who reads it can sign a status list the " +
        "lane accepts)",
    );
  else if (pem !== undefined) {
    try {
      const { key } = loadPublicKey(pem);
      // the simulator's test key: its private key is in the repository (src/status-list/test-key.ts)
      if (isRepositoryTestKey(key) && !c.statusList.allowTestKey)
        add(
          "statusList.publicKey",
          `expected the station's public key, but ${c.statusList.publicKey} is the simulator's TEST key ` +
            "(config/keys/station-test.pub.pem), whose private key is public in the etc-lane repository: " +
            "anyone could sign a status list the lane accepts; set statusList.allowTestKey: true only on " +
            "a simulator or demo lane",
        );
    } catch (e) {
      add(
        "statusList.publicKey",
        `expected the station's Ed25519 public key in PEM in ${c.statusList.publicKey}: ${reason(e)}`,
      );
    }
  }

  // tariff: an exit lane charges with it (an entry lane does not load it: laneConfigNotes)
  const tariff = laneTariffPath(c);
  if (tariff !== null) {
    try {
      Tariff.loadFor(tariff, c.lane);
    } catch (e) {
      add("tariff", reason(e));
    }
  }

  // rsu.port, reader.port: a device path the lane opens as written, so an absolute one; a relative one
  // would be opened against the process's working directory (/ under systemd), not the config's. Only the
  // RSU may be on the network (tcp://host:port, the schema's form); the booth reader is serial only
  // (src/booth/wiring.ts opens it as a serial port).
  for (const [field, port] of [
    ["rsu.port", c.rsu.port],
    ["reader.port", c.reader?.port],
  ] as const) {
    if (port === undefined || (field === "rsu.port" && port.startsWith("tcp:"))) continue;
    if (!isAbsolute(port))
      add(
        field,
        `expected an absolute device path, e.g. /dev/ttyUSB0 or /dev/serial/by-id/..., got "${port}" (a relative ` +
          "one would be opened against the lane's working directory, not the config's)",
      );
    else {
      const notDevice = notCharacterDevice(port);
      if (notDevice !== null) add(field, notDevice);
    }
  }

  // reader.port: another device than rsu.port, also when one of them names it through a link
  // (/dev/serial/by-id/... -> ../../ttyUSB0): the schema compares the paths as written
  const samePort = sameDevice(c);
  if (samePort !== null) add("reader.port", samePort);

  // token files: one token of >= 16 characters, mode 0600 (src/config/token-file.ts)
  if (c.station?.tokenFile !== undefined && opts.uplink !== false) {
    try {
      readTokenFile(c.station.tokenFile, "station.tokenFile");
    } catch (e) {
      add("station.tokenFile", withoutField("station.tokenFile", reason(e)));
    }
  }
  if (c.service.tokenFile !== undefined) {
    try {
      readTokenFile(c.service.tokenFile, "service.tokenFile");
    } catch (e) {
      add("service.tokenFile", withoutField("service.tokenFile", reason(e)));
    }
  }

  // dataDir: a directory this user can write in (or one it can create), short enough for the control
  // socket in it
  const sock = controlSocketPath(c.dataDir);
  if (Buffer.byteLength(sock) > MAX_SOCKET_PATH) {
    add(
      "dataDir",
      `expected a path short enough for its control socket: ${sock} is ${Buffer.byteLength(sock)} bytes, ` +
        `more than ${MAX_SOCKET_PATH} (a Unix socket limit); use a dataDir of at most ` +
        `${MAX_SOCKET_PATH - CONTROL_SOCKET_FILE.length - 1} bytes`,
    );
  }
  const notDir = notDirectoryPathProblem(c.dataDir);
  if (notDir !== null) {
    add("dataDir", notDir);
  } else {
    // the journal, the audit trail and the lock are created in it
    const problem = writableDirectoryProblem(c.dataDir);
    if (problem !== null) add("dataDir", problem);
    // a journal there already: this lane's, not damaged, not newer than this software
    for (const p of dataDirJournalProblems(c)) add("dataDir", p);
    // a journal there, or a first start (--init); the directory's owner
    const start = opts.start ? laneStartProblem(c.dataDir, opts.start) : null;
    if (start !== null) add("dataDir", start);
  }
  // capture.dir (when the capture is on): a directory as dataDir is, where the capture writer creates its
  // files (firmware-bridge/capture/capture-writer.ts); its default, <dataDir>/capture, is dataDir's. At
  // `run`, one the lane cannot write in or create (a capture disk not mounted) is a note: a debugging aid
  // does not decide whether the lane trades
  const capture = opts.atRun ? captureDirPathProblem(c) : captureDirProblem(c);
  if (capture !== null) add("capture.dir", capture);
  // log.file: a file run can append to, or one it can create (with the directories on the way)
  if (c.log.file !== undefined) {
    const problem = appendProblem(c.log.file);
    if (problem !== null) add("log.file", problem);
  }
  return problems;
}

/**
 * Why `reader.port` is the device `rsu.port` is, through a symbolic link, or null: both resolved with
 * realpath when both exist (a port that does not exist yet is waited for by its link, as at run). Each
 * port is opened exclusively: the second open fails, and the RSU link or the booth never comes up.
 */
function sameDevice(c: LaneConfig): string | null {
  if (!c.reader || c.rsu.port.startsWith("tcp:")) return null;
  let rsu: string;
  let reader: string;
  try {
    rsu = realpathSync(c.rsu.port);
    reader = realpathSync(c.reader.port);
  } catch {
    return null;
  }
  if (rsu !== reader) return null;
  const via = (p: string): string => (p === rsu ? p : `${p} is ${rsu}`);
  return (
    `expected another device than rsu.port (${c.rsu.port}): ${via(c.reader.port)} too` +
    `${c.rsu.port === rsu ? "" : ` (rsu.port ${via(c.rsu.port)})`}; the RSU and the booth reader each need ` +
    "their own serial port"
  );
}

/** Why `dir` is no directory path (it, or a path on the way to it, is a file), or null. */
function notDirectoryPathProblem(dir: string): string | null {
  const notDir = firstNonDirectory(dir);
  if (notDir === null) return null;
  return notDir === dir
    ? `expected a directory, but ${dir} is a file`
    : `expected a directory path, but ${notDir} (on the way to ${dir}) is a file`;
}

/**
 * Why this process cannot write in the directory path `dir` (one with no file on the way), or create it,
 * or null.
 */
function writableDirectoryProblem(dir: string): string | null {
  if (existsSync(dir)) return writeInProblem(dir);
  if (isLink(dir)) return `expected a directory, but ${dir} is a symbolic link to a path that does not exist`;
  return creatableProblem(dir);
}

/**
 * Why the wire capture cannot write in `capture.dir`, or null: checked as dataDir is, when the capture is
 * enabled and the field is given (its default, <dataDir>/capture, is made in dataDir).
 */
export function captureDirProblem(c: LaneConfig): string | null {
  return captureDirPathProblem(c) ?? captureDirWriteProblem(c);
}

/** Why the enabled `capture.dir` is no directory path (a file, or under a file), or null: never heals. */
function captureDirPathProblem(c: LaneConfig): string | null {
  if (!c.capture.enabled || c.capture.dir === undefined) return null;
  return notDirectoryPathProblem(c.capture.dir);
}

/** Why this process cannot write in the enabled `capture.dir` or create it, or null. */
function captureDirWriteProblem(c: LaneConfig): string | null {
  if (!c.capture.enabled || c.capture.dir === undefined) return null;
  return writableDirectoryProblem(c.capture.dir);
}

/**
 * The note `run` logs at error for an enabled `capture.dir` it cannot write in or create (with no file on
 * the way, which it refuses): the lane starts and the capture captures nothing (its writer logs that too).
 */
export function captureDirNotes(c: LaneConfig): LaneConfigProblem[] {
  if (captureDirPathProblem(c) !== null) return [];
  const problem = captureDirWriteProblem(c);
  return problem === null
    ? []
    : [{ path: "capture.dir", message: `${problem}: the lane starts and captures nothing` }];
}

/**
 * Why the existing `port` cannot be a serial port or pty, or null: a path that exists (through its links:
 * a /dev/serial/by-id/... link, a pty link) and is no character device, such as a directory or a regular
 * file, can never be opened as one. A port that does not exist (yet) is null: the lane waits for it.
 */
function notCharacterDevice(port: string): string | null {
  let st: Stats;
  try {
    st = statSync(port);
  } catch {
    return null; // missing (an unplugged adapter, a dangling by-id link) or not reachable: waited for at run
  }
  if (st.isCharacterDevice()) return null;
  return `expected a serial device (a character device such as /dev/ttyUSB0), but ${port} is ${fileKind(st)}`;
}

/** What a non-character-device file is, for a message: "a directory", "a regular file"... */
function fileKind(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFile()) return "a regular file";
  if (st.isBlockDevice()) return "a block device";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "not a character device";
}

/**
 * Why `file` cannot be opened for append, or null. Reads only: an existing file must be a writable
 * non-directory; a missing one needs directories (or nothing yet) on the way and a writable nearest
 * existing directory, where run creates the rest (src/log.ts).
 */
function appendProblem(file: string): string | null {
  let isDir: boolean | undefined;
  try {
    isDir = statSync(file).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") return `cannot reach ${file} (${reason(e)})`;
  }
  if (isDir === true) return `expected a file to append the log to, but ${file} is a directory`;
  if (isDir === false) {
    try {
      accessSync(file, constants.W_OK);
      return null;
    } catch (e) {
      return `cannot open ${file} for append (${reason(e)})`;
    }
  }
  const notDir = firstNonDirectory(dirname(file));
  if (notDir !== null)
    return `expected a directory path to the log file, but ${notDir} (on the way to ${file}) is a file`;
  return creatableProblem(file);
}

/** `path` itself is a symbolic link (whatever it points at). */
function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Why this process cannot create files in the existing directory `dir`, or null. */
function writeInProblem(dir: string): string | null {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return null;
  } catch (e) {
    return `expected a directory this user can write in, but ${dir} is not writable (${reason(e)})`;
  }
}

/**
 * Why `path` (missing, with directories or nothing on the way) cannot be created by this process, or
 * null: its nearest existing directory must be writable (the rest is created there).
 */
function creatableProblem(path: string): string | null {
  let dir = dirname(path);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    return `cannot create ${path}: ${dir} is not writable (${reason(e)})`;
  }
  return null;
}

/**
 * What `c` holds that deserves a word but is not a problem, each as `field: why` (`run --check` says them
 * on stderr): configNotes's, a dataDir or capture.dir on a network file system (dataDirNotes,
 * captureFileSystemNotes), what an enabled wire capture may use of its disk (./capture-room.ts), and an exit lane's tariff that charges some route and class 0 fen, which it
 * allows with `allowZeroFee: true` (src/tariff/zero-fee.ts), naming them (freePassageNotes on the file read
 * here).
 */
export function laneConfigNotes(c: LaneConfig): LaneConfigProblem[] {
  // no room note for a capture.dir the capture cannot write in (a problem, named by laneConfigProblems)
  const capture = captureDirProblem(c) === null ? captureRoomNotes(c) : [];
  const notes = [...configNotes(c), ...dataDirNotes(c), ...captureFileSystemNotes(c), ...capture];
  const file = laneTariffPath(c);
  if (file === null) return notes;
  try {
    return [...notes, ...freePassageNotes(file, Tariff.loadFor(file, c.lane))];
  } catch {
    return notes; // a problem, named by laneConfigProblems
  }
}

/**
 * The note on `dataDir` on a network or FUSE file system (src/datadir/fs-type.ts): taken, but the lock
 * and the journal hold only on a local disk. `run` logs it at start at its `level`: error for a network
 * file system, warn for a FUSE mount not known as one. `statfs` and `mountinfo` for tests.
 */
export function dataDirNotes(
  c: LaneConfig,
  statfs?: (dir: string) => { type: number | bigint },
  mountinfo?: () => string,
): (LaneConfigProblem & { level: "error" | "warn" })[] {
  const note = dataDirFileSystemNote(c.dataDir, statfs, mountinfo);
  return note === null ? [] : [{ path: "dataDir", ...note }];
}

/**
 * The note on an enabled capture's `capture.dir` on a network or FUSE file system (src/datadir/fs-type.ts
 * captureDirFileSystemNote): the capture writes synchronously on the lane thread, which a hung mount stops.
 * `run` logs it at start at its `level`, as dataDirNotes's. A capture left in dataDir's `capture` has
 * dataDir's note. `statfs` and `mountinfo` for tests.
 */
export function captureFileSystemNotes(
  c: LaneConfig,
  statfs?: (dir: string) => { type: number | bigint },
  mountinfo?: () => string,
): (LaneConfigProblem & { level: "error" | "warn" })[] {
  if (!c.capture.enabled || c.capture.dir === undefined) return [];
  const note = captureDirFileSystemNote(c.capture.dir, statfs, mountinfo);
  return note === null ? [] : [{ path: "capture.dir", ...note }];
}

/**
 * The notes of `c` that need no file read: `rsu.dialect.heartbeatCode`, a simulator option earlier
 * examples set, which the lane ignores; a dialect key of the other protocol (`b4Ef04`, `b2AntennaId` are
 * national only, `stationLength`, `lastStationLength` legacy only: firmware-bridge/frames/); `outputs.sink`
 * log under a log.level that drops its lines; a `station.statusListPollMs` at least
 * `statusList.deltaMaxAgeMinutes` (the list stale for part of every poll); a lane's
 * `rsu.dialect.cardTimeBase` left unset while its effective `timeBase`, the 0019 time's base before, is
 * not local-as-utc (README.md "Upgrading"); a `booth.offerFor` entry naming
 * a stop the journal does not record (UNRECORDED_STOPS), which the booth never sees; an entry lane's
 * `tariff`, which the lane does not use. `run`
 * logs them at start, before it opens the lane (at warn, or at error under log.level error).
 */
export function configNotes(c: LaneConfig): LaneConfigProblem[] {
  const notes: LaneConfigProblem[] = [];
  if (c.rsu.dialect.heartbeatCode !== undefined)
    notes.push({
      path: "rsu.dialect.heartbeatCode",
      message:
        "a simulator option (the heartbeat B2 ErrorCode the simulated RSU sends); the lane ignores it: remove it",
    });
  // dialect keys the chosen protocol's frames do not have: taken, and nothing on the wire changes
  const d = c.rsu.dialect;
  const otherProtocol: [string, unknown, string][] =
    c.rsu.protocol === "legacy"
      ? [
          ["b4Ef04", d.b4Ef04, "a legacy RSU's B4 has no EF04 block"],
          ["b2AntennaId", d.b2AntennaId, "a legacy RSU's B2 has no AntennaID"],
        ]
      : [
          ["stationLength", d.stationLength, "a national RSU's C6 Station has one width"],
          ["lastStationLength", d.lastStationLength, "a national RSU's B4 LastStation has one width"],
        ];
  for (const [key, value, why] of otherProtocol)
    if (value !== undefined)
      notes.push({
        path: `rsu.dialect.${key}`,
        message: `${c.rsu.protocol === "legacy" ? "national" : "legacy"} only: ${why}; with rsu.protocol ${c.rsu.protocol} this setting does nothing: remove it`,
      });
  // before the card's 0019 time had its own base, cardTimeBase (default local-as-utc for both protocols,
  // firmware-bridge/frames/dialect.ts), a lane read and wrote it in its effective timeBase (the configured
  // one, else the protocol's default: legacy local-as-utc, national utc): a lane whose timeBase is not
  // local-as-utc and that leaves cardTimeBase to the default now reads entries the lanes not yet upgraded
  // wrote 8 h early at UTC+8 (README.md "Upgrading")
  const timeBase = d.timeBase ?? defaultDialect(c.rsu.protocol).timeBase;
  if (d.cardTimeBase === undefined && timeBase !== "local-as-utc")
    notes.push({
      path: "rsu.dialect.cardTimeBase",
      message:
        "not set: this version reads and writes the card's 0019 entry/exit time as local-as-utc (the default) " +
        `where earlier versions used this lane's timeBase (${timeBase}), 8 h apart at UTC+8; upgrade every lane ` +
        `of the road network together, or set cardTimeBase: ${timeBase} until they all are, and settle the ` +
        "booth's open suspects first (README.md, Upgrading); set it to local-as-utc or utc to say which",
    });
  // the log sink writes barrier, lights and display at level info (src/outputs/sinks.ts logOutputs)
  if (c.outputs.sink === "log" && (c.log.level === "warn" || c.log.level === "error"))
    notes.push({
      path: "outputs.sink",
      message: `"log" writes the barrier, lights and display as log lines at level info, which log.level ${c.log.level} drops: nothing reading the log sees them; set log.level to info (or lower), or use "console"`,
    });
  // the list's age is counted from the newest update's issue time (src/status-list/health.ts): polled no
  // more often than deltaMaxAgeMinutes, it is stale for part of every poll (one as long as the hard age
  // is refused by the schema)
  const pollMs = c.station?.statusListPollMs;
  const deltaMs = c.statusList.deltaMaxAgeMinutes * 60_000;
  if (pollMs !== undefined && pollMs >= deltaMs)
    notes.push({
      path: "station.statusListPollMs",
      message:
        `${pollMs} ms is at least statusList.deltaMaxAgeMinutes (${c.statusList.deltaMaxAgeMinutes} min = ` +
        `${deltaMs} ms): the lane asks for status-list deltas less often than its list may age, so the list ` +
        "is stale for part of every poll, with the STATUS_LIST_STALE alarm on every vehicle then (repeated " +
        `every statusList.alarmRepeatSeconds, ${c.statusList.alarmRepeatSeconds} s) on a healthy station link; ` +
        "lower statusListPollMs below it, or raise deltaMaxAgeMinutes",
    });
  // a stop the journal never records is never a booth case (src/booth/cases.ts: cases are journal records)
  for (const [i, reason] of c.booth.offerFor.entries())
    if (Object.hasOwn(UNRECORDED_STOPS, reason))
      notes.push({
        path: `booth.offerFor.${i}`,
        message: `${reason}: ignored: these stops are not written to the journal (${UNRECORDED_STOPS[reason as keyof typeof UNRECORDED_STOPS]}), so the booth never sees them; remove it`,
      });
  const ignored = ignoredTariff(c);
  if (ignored !== null)
    notes.push({
      path: "tariff",
      message: `ignored: an entry lane charges nothing and does not read it (${ignored}); leave it out`,
    });
  return notes;
}

/**
 * The note on `tariff` (read from `file`) when it charges some route and class 0 fen (allowed by its
 * `allowZeroFee: true`), naming them; none otherwise. `run` takes it from the tariff the lane opened and
 * charges (src/lane/runtime.ts), not from a read of its own.
 */
export function freePassageNotes(file: string, tariff: Tariff): LaneConfigProblem[] {
  const free = tariff.freePassage();
  return free.length === 0
    ? []
    : [
        {
          path: "tariff",
          message: `allowZeroFee: true in ${file}: free passage (charged 0 fen) for ${free.join(", ")}`,
        },
      ];
}

/**
 * Throws EtcError(E401_CONFIG_INVALID) naming every problem `laneConfigProblems` finds, in the form of
 * the schema's errors (`source: invalid configuration` then one `  field: message` line each).
 */
export function checkLaneConfig(c: LaneConfig, source = "config", opts: PreflightOptions = {}): void {
  const problems = laneConfigProblems(c, opts);
  if (problems.length === 0) return;
  // a message of several lines (a tariff's own field errors) is indented under its field
  const lines = problems.map((p) => `  ${p.path}: ${p.message.replace(/\n/g, "\n  ")}`);
  throw new EtcError(ErrorCodes.ConfigInvalid, `${source}: invalid configuration\n${lines.join("\n")}`, {
    issues: problems,
  });
}

function readKeyFile(path: string): Buffer {
  // statSync first: a directory named as the key says so, not EISDIR from the read
  if (statSync(path).isDirectory()) throw new Error("it is a directory");
  return readFileSync(path);
}

/** The first existing path on the way to `dir` (itself included) that is not a directory, else null. */
export function firstNonDirectory(dir: string): string | null {
  let p = dir;
  for (;;) {
    try {
      return statSync(p).isDirectory() ? null : p;
    } catch {
      // missing (or not reachable): the lane creates it; look at its parent
    }
    const up = dirname(p);
    if (up === p) return null;
    p = up;
  }
}
