/**
 * `etc-lane status-list import|lookup|info`: the lane's status-list cache from the command line. Each
 * finds the lane like every maintenance command (../lane-locate.ts: `--config FILE`, `--data-dir DIR`,
 * ETC_LANE_CONFIG ...); the station's public key comes from `--public-key`, else from the config's
 * `statusList.publicKey`.
 *
 * `import` goes through the running lane when one answers on its control socket: the lane verifies and
 * applies the bundle itself (../status-list-via-lane.ts) and records who asked. Without a running lane it
 * applies the bundle to the data directory under the data-directory lock (src/datadir/lock.ts), recorded
 * in the lane's trail (../status-list-direct.ts), never over a list another key signed unless the config
 * names the key (../status-list-direct-check.ts); a data directory no lane has run
 * in (no journal, or none at all: a mistyped --data-dir) only with `--init`, before the lane's first start.
 * With a config, a `--public-key` other than its key is refused before anything else; then a data directory
 * that does not exist, by every one of them (`import` unless `--init`; ../require-data-dir.ts), before the
 * key is asked for or a lane asked. `lookup` and `info` only read, without the lock, and work beside a running lane, and a lookup that could not check (no list served) fails with the reason instead of answering.
 */
import { existsSync, readFileSync } from "node:fs";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { EtcError } from "../../../firmware-bridge/errors.js";
import type { LaneConfig } from "../../config/schema.js";
import { createLogger, envLogLevel } from "../../log.js";
import { controlSocketPath } from "../../service/control/protocol.js";
import { maskTypedCard } from "../../service/format.js";
import { loadPublicKey } from "../../status-list/bundle.js";
import { StatusListErrors, slError } from "../../status-list/errors.js";
import { parseCardId, parseObuId } from "../../status-list/ids.js";
import { operatorFileProblem } from "../../status-list/import-message.js";
import {
  openStatusListFromOptions,
  type Progress,
  type StatusListCache,
  statusListTuning,
} from "../../status-list/index.js";
import { addLaneOptions, type LaneLocation, type LaneLocationOptions, locateLane } from "../lane-locate.js";
import { addTimeoutOption, answerTimeoutMs, laneNotAnswering } from "../operator-call.js";
import { locateExistingLane, requireDataDir } from "../require-data-dir.js";
import { UsageError } from "../run-cli.js";
import { importStatusListDirect } from "../status-list-direct.js";
import {
  checkAgainstListOnDisk,
  notServedReplacedLine,
  replacedListLine,
} from "../status-list-direct-check.js";
import { importStatusListThroughLane, printImportOutcome } from "../status-list-via-lane.js";

interface StoreOpts extends LaneLocationOptions {
  publicKey?: string;
  json?: boolean;
  init?: boolean;
  timeout?: string;
}

function addStoreOptions(cmd: Command): Command {
  return addLaneOptions(cmd).option(
    "--public-key <pem>",
    "the station's Ed25519 public key (PEM) that signs the lists; default the config's statusList.publicKey",
  );
}

/** The id of the Ed25519 public key in a PEM file (a bad file: UsageError naming it). */
function keyIdOfFile(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read the public key ${path} (${(e as Error).message})`);
  }
  return loadPublicKey(pem).keyId.toString("hex");
}

/**
 * With a config, a `--public-key` that is not the key the config names is refused: the lane serves only
 * lists its own key signed.
 */
function checkKeyIsTheLanes(o: StoreOpts, loc: LaneLocation): void {
  const laneKey = loc.config?.statusList.publicKey;
  if (o.publicKey === undefined || laneKey === undefined || o.publicKey === laneKey) return;
  if (keyIdOfFile(o.publicKey) === keyIdOfFile(laneKey)) return;
  throw new UsageError(
    `--public-key ${o.publicKey} is not the key this lane trusts (statusList.publicKey ${laneKey} in ${loc.how}): ` +
      "the lane serves only lists its own key signed; leave --public-key out",
  );
}

/**
 * The bundle FILE an import names must exist and be a file, and (`asThisUser`: applied by this command, no
 * lane answering) one this user can read (operatorFileProblem: only those are the operator's slip). A
 * mistyped FILE is not a refusal of a bundle or the lane's failure: a usage error before a lane is asked
 * or the data directory is touched, so nothing reaches the trail (docs/maintenance.md, "What keeps a
 * command from trying at all"). Before a lane is asked, a path this user may not read is no usage error:
 * the running lane reads the file as its own user and says so plainly when it cannot
 * (src/service/runtime-operator.ts).
 */
function checkBundleFile(file: string, asThisUser: boolean): void {
  const problem = operatorFileProblem(file, asThisUser);
  if (problem !== null)
    throw new UsageError(`FILE ${file}: ${problem}; give the bundle file (etc-sim status-list build --out)`);
}

/**
 * The station key file an import without a lane, `lookup` or `info` verifies with, read and parsed before
 * the data directory is touched (the list opened): a mistyped `--public-key` (or a config's
 * `statusList.publicKey` that names no key: no such file, not a file, not readable by this user, no Ed25519
 * PEM key, a private key) is a usage error naming the option or the config key and the file, not the
 * lane's failure in the trail.
 */
function checkKeyFile(path: string, o: StoreOpts): void {
  const named =
    o.publicKey !== undefined ? `--public-key ${path}` : `the public key ${path} (statusList.publicKey)`;
  const problem = operatorFileProblem(path, true);
  if (problem !== null)
    throw new UsageError(`${named}: ${problem}; give the station's Ed25519 public key (PEM)`);
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch {
    // not the operator's slip (EMFILE, EIO, ...): the list's open reads the key again and fails naming it
    return;
  }
  try {
    loadPublicKey(pem);
  } catch (e) {
    throw new UsageError(`${named}: ${(e as Error).message}`);
  }
}

/** The station key: from the options, else from the lane's config. */
function stationKey(o: StoreOpts, loc: LaneLocation): string {
  const publicKey = o.publicKey ?? loc.config?.statusList.publicKey;
  if (publicKey === undefined)
    throw new UsageError(
      `which key signs the lists? give --public-key FILE, or --config FILE (its statusList.publicKey); lane found by ${loc.how}`,
    );
  return publicKey;
}

/**
 * `lookup --card`: a value that is no card id is refused before anything is opened, quoted masked as every
 * card number in the CLI's errors is (src/service/format.ts maskTypedCard: the first and last 4 digits and
 * whatever is wrong with it), where the list's own refusal (src/status-list/ids.ts) quotes it in full.
 */
function checkCardOption(card: string): void {
  try {
    parseCardId(card);
  } catch (e) {
    if (!(e instanceof EtcError) || e.code !== StatusListErrors.IdInvalid) throw e;
    throw slError(
      StatusListErrors.IdInvalid,
      `--card: expected a card id of 20 decimal digits (network 4 + serial 16), got ${JSON.stringify(maskTypedCard(card))}`,
    );
  }
}

/**
 * `lookup --obu`: an OBU id is the OBU's contract serial (B2 SerialNumber, 8 BCD bytes) as its 16 digits
 * (src/status-list/ids.ts parseObuId; docs/status-list.md section 1). A value of another form is refused
 * naming the option before anything is opened, as `--card` is; an 8-hex-digit value (the OBU's MAC id,
 * which `audit search --obu` also takes) is told it is not what the list holds. A-F is accepted, as a list
 * may hold such an id, but no lane ever looks one up: `obuNotDecimalNote` says so beside the answer.
 */
function checkObuOption(obu: string): void {
  try {
    parseObuId(obu);
  } catch (e) {
    if (!(e instanceof EtcError) || e.code !== StatusListErrors.IdInvalid) throw e;
    throw slError(
      StatusListErrors.IdInvalid,
      `--obu: expected an OBU contract serial of 16 digits (B2 SerialNumber), got ${JSON.stringify(obu)}` +
        (/^[0-9A-Fa-f]{8}$/.test(obu)
          ? "; 8 hex digits is an OBU's MAC id (OBUID), which the status list does not hold: give its contract serial"
          : ""),
    );
  }
}

/** For an `--obu` with a digit A-F: the list may hold it, but no lane ever matches it (null otherwise). */
function obuNotDecimalNote(obu: string): string | null {
  if (/^[0-9]{16}$/.test(obu)) return null;
  return (
    `etc-lane: --obu ${obu} has a digit A-F: no lane matches it (a lane looks up only contract serials of 16 ` +
    "decimal digits and stops any other OBU as OBU_DATA_INVALID); answered as the list holds it\n"
  );
}

/**
 * Opens the list in `dataDir`. With the lane's config, with its staleness limits, overlay threshold and
 * version offset, exactly as the lane opens it (statusListTuning), so `info` judges health as the lane does; without one
 * (`--data-dir` alone) with the built-in defaults. Its log on stderr at `logLevel` (ETC_LOG_LEVEL, else
 * error: envLogLevel, read when the action starts). The station's versions are read at the config's
 * `statusList.versionUtcOffsetMinutes` (with it, as the lane reads them), else at its default, UTC+8.
 * Always with `reportsNotServed` (the list's refusal logged at debug only, StatusListOpenOptions
 * reportsNotServed): every command says why a list is not served itself, on one line rather than beside
 * an error record with a stack: `lookup` in its error, `info` in `health.reason`, `import` in the line
 * naming the list its full list replaced or in its refusal of an older full list
 * (../status-list-direct-check.ts notServedReplacedLine; ../../status-list/apply-change.ts
 * withNotServedReason). `cleanup`: the import
 * (the owner of the list's files) removes the lists no longer named; lookup and info only read.
 */
async function withCache<T>(
  o: { dataDir: string; publicKey: string; config: LaneConfig | null; logLevel: string },
  open: { cleanup: boolean },
  fn: (c: StatusListCache) => Promise<T>,
): Promise<T> {
  const logger = createLogger("etc-lane", { level: o.logLevel });
  const cache = await openStatusListFromOptions({
    dataDir: o.dataDir,
    publicKeyPath: o.publicKey,
    logger,
    cleanup: open.cleanup,
    reportsNotServed: true,
    ...(o.config ? statusListTuning(o.config.statusList) : {}),
  });
  try {
    return await fn(cache);
  } finally {
    await cache.close();
  }
}

/** A progress reporter: a bar on a terminal, plain lines (every 10%) otherwise. */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): {
  onProgress: (p: Pick<Progress, "done" | "total"> & { phase: string }) => void;
  stop: () => void;
} {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: "{phase} [{bar}] {percentage}% | {value}/{total} | eta {eta_formatted}",
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      onProgress: (p) => {
        if (!started) {
          bar.start(p.total, p.done, { phase: p.phase });
          started = true;
        } else bar.update(p.done, { phase: p.phase });
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  let last = -1;
  return {
    onProgress: (p) => {
      const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100;
      if (Math.floor(pct / 10) !== Math.floor(last / 10)) {
        last = pct;
        stream.write(`${p.phase} ${pct}% (${p.done}/${p.total})\n`);
      }
    },
    stop: () => {},
  };
}

export function registerStatusList(program: Command): void {
  const sl = program
    .command("status-list")
    .description("the status list (blacklist) cache: import, lookup, info");

  addTimeoutOption(
    addStoreOptions(
      sl
        .command("import")
        .description(
          "verify and apply a signed status-list bundle (full list or delta), with progress: through the running lane, " +
            "else on the data directory",
        )
        .argument("<file>", "bundle file (etc-sim status-list build/generate)")
        .option(
          "--json",
          'the outcome as one JSON line, {"via":"lane"|"direct","ok","message","result"}, result the apply result or null',
        )
        .option(
          "--init",
          "without a running lane: load the list into a data directory no lane has run in yet (created, mode 0700, when missing), before the lane's first start",
        ),
    ),
  ).action(async (file: string, o: StoreOpts) => {
    // ETC_LOG_LEVEL first: a bad one is refused naming it, before anything is read or applied
    const logLevel = envLogLevel("error");
    const loc = locateLane(o);
    const timeoutMs = answerTimeoutMs(o);
    // the list is imported for the lane: never with another key than the one the lane trusts (the lane
    // would not serve it: src/status-list/lifecycle.ts); checked before a running lane is asked too, which
    // verifies with its own key whatever --public-key says
    checkKeyIsTheLanes(o, loc);
    // a mistyped --data-dir is refused as every maintenance command refuses it (E412), before a lane is
    // asked or a key asked for, unless --init is to create it
    if (o.init !== true)
      requireDataDir(loc, "to load a list into a data directory before the lane's first start, give --init");
    // a mistyped FILE, before a lane is asked (the lane reads it as its own user: whether this user can
    // read it is asked only below, without a lane)
    checkBundleFile(file, false);
    const progress = progressReporter();
    // a running lane applies it itself (its list is open in the lane's process)
    const viaLane = await importStatusListThroughLane(loc, file, {
      onProgress: progress.onProgress,
      stopProgress: progress.stop,
      timeoutMs,
    });
    if (viaLane) {
      printImportOutcome(viaLane, o.json);
      return;
    }
    const publicKey = stationKey(o, loc);
    // applied here, as this user: the bundle and the key must be readable, before the lock or the trail
    checkBundleFile(file, true);
    checkKeyFile(publicKey, o);
    const created = o.init === true && !existsSync(loc.dataDir);
    // the line naming the list the lane did not serve that this import's full list replaced
    let replaced: string | null = null;
    let direct: Awaited<ReturnType<typeof importStatusListDirect>>;
    try {
      direct = await importStatusListDirect(
        loc.dataDir,
        loc.config,
        file,
        async (onProgress) => {
          // under the lock: a list another key signed is not replaced by this import's key unless the
          // config names it (../status-list-direct-check.ts)
          const ofAnotherKey = checkAgainstListOnDisk(loc.dataDir, {
            path: publicKey,
            fromLaneConfig: loc.config !== null,
          });
          return withCache(
            { dataDir: loc.dataDir, publicKey, config: loc.config, logLevel },
            { cleanup: true },
            async (cache) => {
              const notServed = cache.notServed();
              // an older full list refused over the list not served says why itself
              // (../../status-list/apply-change.ts withNotServedReason)
              const r = await cache.applyBundle(file, onProgress ? { onProgress } : {});
              // a full list took the place of the one not served (a delta is refused without a served list)
              if (r.kind === "full" && ofAnotherKey !== null)
                replaced = replacedListLine(ofAnotherKey, r.version);
              else if (r.kind === "full" && notServed !== null)
                replaced = notServedReplacedLine(notServed, r.version);
              return r;
            },
          );
        },
        progress.onProgress,
        { init: o.init === true },
      );
    } catch (e) {
      // the lane was asked first: a lane holding the lock did not answer (not "act through its socket")
      throw laneNotAnswering(e, controlSocketPath(loc.dataDir));
    } finally {
      progress.stop();
    }
    printImportOutcome({ via: "direct", result: direct.result }, o.json);
    if (replaced !== null) process.stderr.write(replaced);
    if (!direct.recorded)
      process.stderr.write(
        `no lane has run in ${loc.dataDir} yet: the import is not in an audit trail (there is none yet)\n`,
      );
    if (created)
      process.stderr.write(
        `created the data directory ${loc.dataDir} (mode 0700), owned by the user this command ran as: run the lane as that user\n`,
      );
  });

  addStoreOptions(
    sl
      .command("lookup")
      .description("is a card or OBU listed? prints the JSON answer with the versions it was judged against")
      .option("--card <id>", "card id, 20 digits (network 4 + serial 16)")
      .option(
        "--obu <id>",
        "OBU contract serial, 16 digits (a lane matches only decimal ones; A-F is accepted, as a list may hold it)",
      ),
  ).action(async (o: StoreOpts & { card?: string; obu?: string }) => {
    // ETC_LOG_LEVEL first: a bad one is refused naming it, before anything is read or applied
    const logLevel = envLogLevel("error");
    if (o.card === undefined && o.obu === undefined) throw new UsageError("give --card ID and/or --obu ID");
    if (o.card !== undefined) checkCardOption(o.card);
    if (o.obu !== undefined) checkObuOption(o.obu);
    // the directory before the key: a mistyped --data-dir is not reported only once a key is given
    const loc = locateExistingLane(o);
    const publicKey = stationKey(o, loc);
    checkKeyFile(publicKey, o);
    await withCache(
      { dataDir: loc.dataDir, publicKey, config: loc.config, logLevel },
      { cleanup: false },
      async (cache) => {
        const q: { cardId?: string; obuId?: string } = {};
        if (o.card !== undefined) q.cardId = o.card;
        if (o.obu !== undefined) q.obuId = o.obu;
        const answer = cache.lookup(q);
        // "not checked" must not read as "not listed": no answer, the reason, exit 1
        if (answer.noList)
          throw new Error(
            `status list not checked (${loc.dataDir}, lane found by ${loc.how}): ${cache.health().reason}; ` +
              "whether it is listed is unknown",
          );
        process.stdout.write(`${JSON.stringify(answer)}\n`);
        const note = o.obu === undefined ? null : obuNotDecimalNote(o.obu);
        if (note !== null) process.stderr.write(note);
      },
    );
  });

  addStoreOptions(
    sl
      .command("info")
      .description(
        "versions, entry counts, ages, staleness, health and file size of the active list, judged against the " +
          "config's statusList limits as the lane judges it (the built-in ones with --data-dir alone)",
      ),
  ).action(async (o: StoreOpts) => {
    // ETC_LOG_LEVEL first: a bad one is refused naming it, before anything is read or applied
    const logLevel = envLogLevel("error");
    // the directory before the key: a mistyped --data-dir is not reported only once a key is given
    const loc = locateExistingLane(o);
    const publicKey = stationKey(o, loc);
    checkKeyFile(publicKey, o);
    await withCache(
      { dataDir: loc.dataDir, publicKey, config: loc.config, logLevel },
      { cleanup: false },
      async (cache) => {
        process.stdout.write(`${JSON.stringify(cache.info(), null, 2)}\n`);
      },
    );
    if (!loc.config)
      process.stderr.write(
        `no lane config (lane found by ${loc.how}): staleness and health judged against the built-in limits; ` +
          "give --config FILE for the lane's own (statusList.*MaxAgeMinutes)\n",
      );
  });
}
