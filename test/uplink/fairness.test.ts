/**
 * Nothing the station fails at holds up the uploads (src/uplink/uplink.ts step): a heartbeat endpoint or a
 * status-list bundle that keeps failing while /api/v1/transactions works, and a bundle chain while records
 * wait, each with the real journal and the station simulator (./rig.ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import type { StatusListSink } from "../../src/uplink/uplink.js";
import { tempDir } from "../journal/helpers.js";
import { makeRig, type Rig, stationMatchesJournal } from "./rig.js";

let rig: Rig | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  for (const c of cleanups.splice(0)) c();
});

/** fetch that answers `status` for the paths `fails` picks, and logs every path asked for. */
function failingFetch(fails: (path: string) => boolean, status = 503) {
  const calls: string[] = [];
  const f: typeof fetch = async (input, init) => {
    const path = new URL(String(input)).pathname;
    calls.push(path);
    if (fails(path)) return new Response('{"error":"FAULT"}', { status });
    return fetch(input, init);
  };
  return { f, calls };
}

/** A sink that applies whatever it is given on top of what it holds (the bundle's name is its content). */
class ChainSink implements StatusListSink {
  full: string | null = null;
  delta: string | null = null;
  versions() {
    return { full: this.full, delta: this.delta };
  }
  async applyBundle(): Promise<unknown> {
    return {};
  }
}

function listsDir(names: string[]): string {
  const t = tempDir("etc-fair-lists-");
  cleanups.push(t.cleanup);
  const dir = join(t.dir, "lists");
  mkdirSync(dir);
  for (const n of names) writeFileSync(join(dir, n), Buffer.alloc(3000, 7));
  return dir;
}

it("a heartbeat endpoint that keeps failing (503, then 404) does not hold up the uploads", async () => {
  for (const status of [503, 404]) {
    const { f, calls } = failingFetch((p) => p.endsWith("/heartbeat"), status);
    rig = await makeRig({ fetch: f, heartbeatIntervalMs: 60_000 });
    rig.commit(7);
    rig.uplink.start();
    await rig.uplink.whenDrained(20_000);
    expect(stationMatchesJournal(rig).ok).toBe(true);
    // one heartbeat tried and failed; the next waits for its interval
    expect(calls.filter((p) => p.endsWith("/heartbeat"))).toHaveLength(1);
    expect(rig.uplink.status().counters.failures).toBe(1);
    await rig.close();
    rig = undefined;
  }
});

it("a status-list bundle whose pages keep failing does not hold up the uploads", async () => {
  const { f, calls } = failingFetch((p) => p.includes("/status-list/bundles/"));
  rig = await makeRig(
    { fetch: f, statusList: new ChainSink(), statusListPollMs: 150_000, downloadDir: listsDir([]) },
    { statusListDir: listsDir(["full-202611230000.bundle"]) },
  );
  rig.commit(7);
  rig.uplink.start();
  await rig.uplink.whenDrained(20_000);
  expect(stationMatchesJournal(rig).ok).toBe(true);
  expect(calls.some((p) => p.includes("/status-list/bundles/"))).toBe(true);
});

it("status-list bundles and upload batches take turns: a batch goes between two bundles of a chain", async () => {
  const chain = [
    "full-202611230000.bundle",
    "delta-202611230000-202611230005.bundle",
    "delta-202611230005-202611230010.bundle",
  ];
  const { f, calls } = failingFetch(() => false);
  const sink = new ChainSink();
  sink.applyBundle = async () => {
    // what the real list does: each bundle moves the versions the next manifest is asked with
    const next = chain[applied++]!;
    const full = /^full-(\d+)/.exec(next);
    if (full) sink.full = full[1]!;
    else sink.delta = /-(\d+)\.bundle$/.exec(next)![1]!;
    return {};
  };
  let applied = 0;
  rig = await makeRig(
    { fetch: f, statusList: sink, statusListPollMs: 150_000, batchSize: 10, downloadDir: listsDir([]) },
    { statusListDir: listsDir(chain) },
  );
  rig.commit(45); // five batches
  rig.uplink.start();
  await rig.uplink.whenDrained(20_000);
  expect(stationMatchesJournal(rig).ok).toBe(true);
  const steps = calls
    .map((p) => (p.includes("/bundles/") ? "bundle" : p.endsWith("/transactions") ? "upload" : null))
    .filter((x) => x !== null)
    .filter((x, i, a) => i === 0 || x === "upload" || a[i - 1] !== "bundle"); // a bundle's pages: one step
  expect(applied).toBe(3);
  expect(steps.slice(0, 6)).toEqual(["bundle", "upload", "bundle", "upload", "bundle", "upload"]);
});
