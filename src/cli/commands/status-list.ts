/**
 * `etc-lane status-list import|lookup|info`: the lane's status-list cache from the command line.
 * The data dir and the station public key come from options (default ./data and the simulator's TEST
 * key config/keys/station-test.pub.pem); a lane config file may supply them later through
 * `openStatusListFromOptions`.
 *
 * `import` writes the data directory, so it takes the data-directory lock (src/datadir/lock.ts) and is
 * refused while a lane (or another import) holds it: the running lane takes its lists from the station.
 * `lookup` and `info` only read, without the lock, and work beside a running lane.
 */
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { acquireDataDirLock } from "../../datadir/lock.js";
import { createLogger } from "../../log.js";
import { openStatusListFromOptions, type Progress, type StatusListCache } from "../../status-list/index.js";
import { UsageError } from "../run-cli.js";

export const DEFAULT_DATA_DIR = "./data";
export const DEFAULT_PUBLIC_KEY = "config/keys/station-test.pub.pem";

interface StoreOpts {
  dataDir: string;
  publicKey: string;
}

function addStoreOptions(cmd: Command): Command {
  return cmd
    .option("--data-dir <dir>", "lane data directory (the list lives in <dir>/status-list)", DEFAULT_DATA_DIR)
    .option(
      "--public-key <pem>",
      "station Ed25519 public key (PEM) that signs the lists",
      DEFAULT_PUBLIC_KEY,
    );
}

async function withCache<T>(
  o: StoreOpts,
  cleanup: boolean,
  fn: (c: StatusListCache) => Promise<T>,
): Promise<T> {
  const logger = createLogger("etc-lane", { level: process.env.ETC_LOG_LEVEL ?? "error" });
  const cache = await openStatusListFromOptions({
    dataDir: o.dataDir,
    publicKeyPath: o.publicKey,
    logger,
    cleanup,
  });
  try {
    return await fn(cache);
  } finally {
    await cache.close();
  }
}

/** A progress reporter: a bar on a terminal, plain lines (every 10%) otherwise. */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): {
  onProgress: (p: Progress) => void;
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

  addStoreOptions(
    sl
      .command("import")
      .description("verify and apply a signed status-list bundle (full list or delta), with progress")
      .argument("<file>", "bundle file (etc-sim status-list build/generate)"),
  ).action(async (file: string, o: StoreOpts) => {
    const lock = acquireDataDirLock(o.dataDir, { role: "cli", command: "etc-lane status-list import" });
    try {
      await withCache(o, true, async (cache) => {
        const progress = progressReporter();
        try {
          const r = await cache.applyBundle(file, { onProgress: progress.onProgress });
          progress.stop();
          process.stdout.write(`${JSON.stringify({ ...r, ms: Math.round(r.ms) })}\n`);
        } catch (e) {
          progress.stop();
          throw e;
        }
      });
    } finally {
      lock.release();
    }
  });

  addStoreOptions(
    sl
      .command("lookup")
      .description("is a card or OBU listed? prints the JSON answer with the versions it was judged against")
      .option("--card <id>", "card id, 20 digits (network 4 + serial 16)")
      .option("--obu <id>", "OBU id, 16 hex digits"),
  ).action(async (o: StoreOpts & { card?: string; obu?: string }) => {
    if (o.card === undefined && o.obu === undefined) throw new UsageError("give --card ID and/or --obu ID");
    await withCache(o, false, async (cache) => {
      const q: { cardId?: string; obuId?: string } = {};
      if (o.card !== undefined) q.cardId = o.card;
      if (o.obu !== undefined) q.obuId = o.obu;
      process.stdout.write(`${JSON.stringify(cache.lookup(q))}\n`);
    });
  });

  addStoreOptions(
    sl
      .command("info")
      .description("versions, entry counts, ages, staleness and file size of the active list"),
  ).action(async (o: StoreOpts) => {
    await withCache(o, false, async (cache) => {
      process.stdout.write(`${JSON.stringify(cache.info(), null, 2)}\n`);
    });
  });
}
