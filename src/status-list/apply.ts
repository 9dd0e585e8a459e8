/**
 * Applying a bundle, lane-thread side: hand it to the worker (as a file: bytes above a few hundred KB are
 * written to one first, not copied in a message), then install the result: a full list is swapped in, a
 * delta's versions taken (lifecycle.ts). A job that fails after it wrote the list leaves the lane on what
 * the disk holds (lifecycle.ts resyncAfterFailedDelta, resyncAfterFailedFull), and its error says what
 * changed (apply-change.ts). The verification, the
 * version order and the writing happen in the worker (full-build.ts, delta-apply.ts, version-order.ts).
 * Serialised on the life cycle's queue.
 */
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isEtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { lanesFullError, withListChange, withNotServedReason } from "./apply-change.js";
import type { BundleSource } from "./bundle-stream.js";
import type { DeltaResult } from "./delta-apply.js";
import { StatusListErrors, slError } from "./errors.js";
import type { BuildResult } from "./full-build.js";
import { type Unmatched, unmatchedMessage } from "./import-message.js";
import type { ListLifecycle } from "./lifecycle.js";
import { runJob } from "./run-worker.js";
import type { ApplyOptions, ApplyResult, ListVersions, Progress } from "./types.js";

/** Bundles given as bytes from this size on reach the worker through a file, not a message copy. */
const INCOMING_FILE_MIN = 256 * 1024;

export interface ApplyContext {
  life: ListLifecycle;
  publicKeyPem: string;
  log: Logger;
  now: () => number;
  /** the offset from UTC the station writes its versions in, at which they are read (version-order.ts) */
  utcOffsetMinutes: number;
  versions: () => ListVersions;
}

/**
 * Verify and apply a signed bundle (a file path or its bytes): a full list is built into a new database
 * and swapped in, a delta applied in one transaction, both off the lane thread. Rejections (EtcError,
 * E50x) leave the active list exactly as it was, unless `current` already named another list
 * (lifecycle.ts resyncAfterFailedFull). Calls are serialised.
 */
export function applyBundle(
  ctx: ApplyContext,
  input: Buffer | Uint8Array | string,
  opts: ApplyOptions = {},
): Promise<ApplyResult> {
  if (ctx.life.closed) return Promise.reject(slError(StatusListErrors.Closed, "status-list cache is closed"));
  const src: BundleSource = typeof input === "string" ? { path: input } : { bytes: input };
  return ctx.life.enqueue(() => applyNow(ctx, src, opts));
}

async function applyNow(ctx: ApplyContext, given: BundleSource, opts: ApplyOptions): Promise<ApplyResult> {
  if (ctx.life.closed) throw slError(StatusListErrors.Closed, "status-list cache is closed");
  const kind = peekKind(given);
  // Bytes above a few hundred KB go to the worker through a file, written by libuv's thread pool
  // straight from the caller's memory: posting them would copy them on this thread (structured clone,
  // measured: 0.6 ms for a 100k-entry delta, 350 ms for a 30M full list of 480 MB).
  let incoming: string | null = null;
  try {
    let src = given;
    if ("bytes" in given && given.bytes.byteLength >= INCOMING_FILE_MIN) {
      incoming = join(ctx.life.dir, `incoming-${randomBytes(4).toString("hex")}.bundle`);
      await stageIncoming(ctx, incoming, given.bytes);
      src = { path: incoming };
    }
    return await applyChecked(ctx, kind, src, opts);
  } finally {
    // also a file the write left part-way (a full disk): it would take room a build's check counts
    if (incoming) await rm(incoming, { force: true });
  }
}

/**
 * Writes a bundle given as bytes to `file` for the worker. A failure (the disk full, an I/O error) is the
 * lane's store failure, E511 (docs/status-list.md section 1), nothing applied; the caller deletes what the
 * write left.
 */
async function stageIncoming(ctx: ApplyContext, file: string, bytes: Uint8Array): Promise<void> {
  try {
    await mkdir(ctx.life.dir, { recursive: true });
    await writeFile(file, bytes);
  } catch (e) {
    const err = slError(
      StatusListErrors.Store,
      `cannot stage status-list bundle ${file}: ${(e as Error).message}; nothing applied`,
      undefined,
      e,
    );
    ctx.log.warn({ code: err.code }, err.message);
    throw err;
  }
}

async function applyChecked(
  ctx: ApplyContext,
  kind: "full" | "delta",
  src: BundleSource,
  opts: ApplyOptions,
): Promise<ApplyResult> {
  const { life, log } = ctx;
  let lastDecile = -1;
  const onProgress = (p: Progress): void => {
    opts.onProgress?.(p);
    const decile = p.total > 0 ? Math.floor((10 * p.done) / p.total) : 10;
    if (decile !== lastDecile) {
      lastDecile = decile;
      log.info({ phase: p.phase, done: p.done, total: p.total }, `status-list ${p.phase} ${decile * 10}%`);
    }
  };
  const before = ctx.versions();
  try {
    if (kind === "delta") {
      const a = life.active;
      if (!a)
        throw slError(
          StatusListErrors.NoFullList,
          // why none is: the list on disk not served (damaged, missing, another key), or no list yet
          `no full list is active to apply the delta to (${life.notServed ?? "no full list imported yet"})`,
        );
      const job = runJob<DeltaResult>(
        {
          type: "delta",
          dbPath: join(life.dir, a.name),
          src,
          publicKeyPem: ctx.publicKeyPem,
          filter: a.filter ? { buffer: a.filter.buffer, log2Bits: a.filter.log2Bits } : null,
          clock: { now: ctx.now(), utcOffsetMinutes: ctx.utcOffsetMinutes },
        },
        onProgress,
      );
      let r: DeltaResult;
      try {
        r = await life.track(job);
      } catch (e) {
        await life.resyncAfterFailedDelta(a);
        throw e;
      }
      life.deltaApplied(a, r);
      log.info(
        { version: r.version, adds: r.adds, removes: r.removes, ms: Math.round(r.ms) },
        "status-list delta applied",
      );
      warnUnmatched(log, kind, r.version, r);
      return {
        kind,
        version: r.version,
        base: r.base,
        adds: r.adds,
        removes: r.removes,
        cards: r.cards,
        obus: r.obus,
        obusNotDecimal: r.obusNotDecimal,
        cardsNoNetwork: r.cardsNoNetwork,
        cardNoNetworkExample: r.cardNoNetworkExample,
        ms: r.ms,
        versions: ctx.versions(),
      };
    }
    // why the list `current` names is not served, as the job began (the resync below may change it)
    const unserved = life.notServed;
    const job = runJob<BuildResult>(
      {
        type: "full",
        dataDir: join(life.dir, ".."),
        src,
        publicKeyPem: ctx.publicKeyPem,
        current: ctx.versions(),
        clock: { now: ctx.now(), utcOffsetMinutes: ctx.utcOffsetMinutes },
      },
      onProgress,
    );
    let r: BuildResult | null = null;
    try {
      r = await life.track(job);
      if (life.closed) throw slError(StatusListErrors.Closed, "status-list cache closed during the import");
      life.activate(r.db, r.filter);
    } catch (e) {
      // the pointer may name the new list although no answer came (or it could not be activated): the
      // resync serves it, or points `current` back at the list served; its error then says so
      throw withNotServedReason(
        lanesFullError(e, before, life.resyncAfterFailedFull(), r?.header.version ?? null),
        unserved,
      );
    }
    log.info(
      { version: r.header.version, cards: r.cards, obus: r.obus, ms: Math.round(r.ms) },
      "status-list full list active",
    );
    warnUnmatched(log, kind, r.header.version, r);
    return {
      kind,
      version: r.header.version,
      base: null,
      adds: r.cards + r.obus,
      removes: 0,
      cards: r.cards,
      obus: r.obus,
      obusNotDecimal: r.obusNotDecimal,
      cardsNoNetwork: r.cardsNoNetwork,
      cardNoNetworkExample: r.cardNoNetworkExample,
      ms: r.ms,
      versions: ctx.versions(),
    };
  } catch (e) {
    if (isEtcError(e)) log.warn({ code: e.code }, e.message);
    // a failed job may have changed the list served (the resyncs above): the error says so
    throw withListChange(e, before, ctx.versions());
  }
}

/**
 * A bundle that lists entries matching nothing (OBU ids no lane matches, cards of network 0000): said in
 * the log.
 */
function warnUnmatched(log: Logger, kind: "full" | "delta", version: string, r: Unmatched): void {
  const message = unmatchedMessage(r);
  if (message !== null)
    log.warn(
      {
        kind,
        version,
        obusNotDecimal: r.obusNotDecimal,
        cardsNoNetwork: r.cardsNoNetwork,
        cardNoNetworkExample: r.cardNoNetworkExample,
      },
      message,
    );
}

function peekKind(src: BundleSource): "full" | "delta" {
  let b: Buffer;
  if ("bytes" in src)
    b = Buffer.from(src.bytes.buffer, src.bytes.byteOffset, Math.min(10, src.bytes.byteLength));
  else {
    b = Buffer.alloc(10);
    let fd: number;
    try {
      fd = openSync(src.path, "r");
    } catch (e) {
      throw slError(
        StatusListErrors.Store,
        `cannot read status-list bundle ${src.path}: ${(e as Error).message}`,
      );
    }
    try {
      b = b.subarray(0, readSync(fd, b, 0, 10, 0));
    } catch (e) {
      // a directory opens, and fails here (EISDIR): said as a file that cannot be read, not raw
      throw slError(
        StatusListErrors.Store,
        `cannot read status-list bundle ${src.path}: ${(e as Error).message}`,
      );
    } finally {
      closeSync(fd);
    }
  }
  return b.length >= 10 && b[9] === 2 ? "delta" : "full";
}
