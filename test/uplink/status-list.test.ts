import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import type { StatusListSink } from "../../src/uplink/uplink.js";
import { makeRig, type Rig, statusWhere } from "./rig.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** Bundle bytes: a header line naming it, then filler so that it spans several pages. */
function bundle(name: string, size: number): Buffer {
  const head = Buffer.from(`${name}\n`);
  return Buffer.concat([head, Buffer.alloc(size - head.length, name.length % 251)]);
}

/** A sink like src/status-list: applies a full or a delta on top of what it holds, refuses the rest. */
class FakeSink implements StatusListSink {
  full: string | null = null;
  delta: string | null = null;
  applied: { name: string; sha: string; bytes: number }[] = [];
  refuse: string | null = null;
  /** every bundle handed to applyBundle, by name */
  tried: string[] = [];
  versions(): { full: string | null; delta: string | null } {
    return { full: this.full, delta: this.delta };
  }
  async applyBundle(file: string): Promise<unknown> {
    const bytes = readFileSync(file);
    const name = bytes.subarray(0, bytes.indexOf(10)).toString();
    this.tried.push(name);
    if (name === this.refuse) throw new EtcError("E504_BUNDLE_BAD_SIGNATURE", "bad signature");
    const f = /^full-(\d+)\.bundle$/.exec(name);
    const d = /^delta-(\d+)-(\d+)\.bundle$/.exec(name);
    if (f) {
      this.full = f[1]!;
      this.delta = null;
    } else if (d && d[1] === (this.delta ?? this.full)) {
      this.delta = d[2]!;
    } else
      throw new EtcError("E507_BUNDLE_NOT_CHAINING", `${name} does not apply on ${this.full}/${this.delta}`);
    this.applied.push({ name, sha: createHash("sha256").update(bytes).digest("hex"), bytes: bytes.length });
    return { ok: true };
  }
}

/** The uplink against a station serving the bundles of `dir` in pages of 1 KiB, polling every 50 ms. */
function listRig(
  sink: StatusListSink,
  dir: string,
  downloadDir: string,
  audited: { type: string; data?: object }[],
): Promise<Rig> {
  return makeRig(
    {
      statusList: sink,
      statusListPollMs: 50,
      heartbeatIntervalMs: 40,
      downloadDir,
      audit: { append: (e) => audited.push(e) },
    },
    { statusListDir: dir, pageSize: 1024 },
  );
}

it("fetches the newest full list (paged) and the delta chain, confirms it is current, reports versions", async () => {
  const { tempDir } = await import("../journal/helpers.js");
  const t = tempDir("etc-bundles-");
  const dir = join(t.dir, "lists");
  mkdirSync(dir);
  const files: Record<string, Buffer> = {};
  for (const [name, size] of [
    ["full-20261122.bundle", 2500],
    ["delta-20261122-202611220005.bundle", 300],
    ["full-20261123.bundle", 5000],
    ["delta-20261123-202611230005.bundle", 700],
    ["delta-202611230005-202611230010.bundle", 1500],
  ] as const) {
    files[name] = bundle(name, size);
    writeFileSync(join(dir, name), files[name]);
  }
  const sink = new FakeSink();
  const audited: { type: string; data?: object }[] = [];
  rig = await listRig(sink, dir, join(t.dir, "dl"), audited);
  rig.commit(5);
  rig.uplink.start();
  await statusWhere(rig.uplink, (s) => s.statusList?.confirmedAt != null, "status list confirmed current");
  expect(sink.applied.map((a) => a.name)).toEqual([
    "full-20261123.bundle", // 5 pages of 1 KiB
    "delta-20261123-202611230005.bundle",
    "delta-202611230005-202611230010.bundle",
  ]);
  for (const a of sink.applied) {
    expect(a.sha).toBe(createHash("sha256").update(files[a.name]!).digest("hex"));
  }
  expect(readdirSync(join(t.dir, "dl"))).toEqual([]); // each download removed once applied
  expect(rig.uplink.status().statusList).toMatchObject({
    full: "20261123",
    delta: "202611230010",
    bundlesApplied: 3,
    lastError: null,
  });
  await rig.uplink.whenDrained();
  expect(rig.station.stats().distinct).toBe(5);
  // a heartbeat that ends from now on began after the poll that confirmed the list (one loop, one step
  // at a time): it carries the new versions
  const beats = rig.uplink.status().counters.heartbeats;
  await statusWhere(rig.uplink, (s) => s.counters.heartbeats > beats, "a heartbeat after the update");
  expect(rig.station.heartbeats()["4301010203"]).toMatchObject({
    statusList: { full: "20261123", delta: "202611230010" },
  });

  // a new delta appears; the sink refuses it: recorded, uploads keep going, not fetched again while the
  // manifest offers the same bundle
  const next = "delta-202611230010-202611230015.bundle";
  sink.refuse = next;
  writeFileSync(join(dir, next), bundle(next, 100));
  await statusWhere(rig.uplink, (s) => s.statusList?.lastError != null, "refusal recorded");
  expect(rig.uplink.status().statusList?.lastError?.message).toMatch(/bad signature/);
  // in the audit trail: each list applied with the versions it left, the refusal with its reason
  expect(audited.filter((e) => e.type === "status-list.applied").map((e) => e.data)).toEqual([
    expect.objectContaining({
      version: "20261123",
      source: "station",
      versions: { full: "20261123", delta: null },
    }),
    expect.objectContaining({
      version: "202611230005",
      versions: { full: "20261123", delta: "202611230005" },
    }),
    expect.objectContaining({
      version: "202611230010",
      versions: { full: "20261123", delta: "202611230010" },
    }),
  ]);
  expect(audited.find((e) => e.type === "status-list.refused")?.data).toMatchObject({
    bundle: next,
    version: "202611230015",
    source: "station",
    reason: expect.stringMatching(/bad signature/),
  });
  rig.commit(3);
  await rig.uplink.whenDrained();
  expect(rig.station.stats().distinct).toBe(8);
  // three more polls (every 50 ms) offer the same bundle: it is neither fetched nor handed to the sink
  // again, and the refusal is alarmed once
  const polls = new Set<string | null>();
  const later = await statusWhere(
    rig.uplink,
    (s) => polls.add(s.statusList?.lastPollAt ?? null).size > 3,
    "three more polls",
  );
  expect(sink.tried.filter((n) => n === next)).toEqual([next]);
  expect(audited.filter((e) => e.type === "status-list.refused")).toHaveLength(1);
  expect(later.statusList?.lastError?.message).toMatch(/bad signature/);
  // the station offers another bundle under that name (signed again: other bytes, another SHA-256): fetched
  sink.refuse = null;
  writeFileSync(join(dir, next), bundle(next, 120));
  const retried = await statusWhere(
    rig.uplink,
    (s) => s.statusList?.delta === "202611230015",
    "delta applied once the manifest changed",
  );
  expect(sink.delta).toBe("202611230015");
  expect(retried.statusList?.lastError).toBeNull(); // cleared by the same poll
  t.cleanup();
});

it("a job that failed but changed the list served is a change (status-list.applied with its failure), not a refusal", async () => {
  const { tempDir } = await import("../journal/helpers.js");
  const { withListChange } = await import("../../src/status-list/apply-change.js");
  const { EtcError } = await import("../../firmware-bridge/errors.js");
  const t = tempDir("etc-bundles-");
  const dir = join(t.dir, "lists");
  mkdirSync(dir);
  const name = "full-20261123.bundle";
  writeFileSync(join(dir, name), bundle(name, 1500));
  // the full list is in place (the pointer switched) but its job failed afterwards (E511 "is in place")
  class FailsAfterSwitch extends FakeSink {
    override async applyBundle(file: string): Promise<unknown> {
      const before = this.versions();
      await super.applyBundle(file);
      throw withListChange(
        new EtcError("E511_STATUS_LIST_STORE", "filter not written: EIO"),
        before,
        this.versions(),
      );
    }
  }
  const sink = new FailsAfterSwitch();
  const audited: { type: string; severity?: string; data?: object }[] = [];
  rig = await listRig(sink, dir, join(t.dir, "dl"), audited);
  rig.uplink.start();
  await statusWhere(rig.uplink, (s) => s.statusList?.confirmedAt != null, "status list confirmed current");
  expect(audited.filter((e) => e.type.startsWith("status-list."))).toEqual([
    expect.objectContaining({
      type: "status-list.applied",
      severity: "warn",
      data: expect.objectContaining({
        bundle: name,
        kind: "full",
        version: "20261123",
        before: { full: null, delta: null },
        versions: { full: "20261123", delta: null },
        failure: { reason: "filter not written: EIO", code: "E511_STATUS_LIST_STORE" },
      }),
    }),
  ]);
  expect(rig.uplink.status().statusList).toMatchObject({
    full: "20261123",
    bundlesApplied: 1,
    lastError: null,
  });
  expect(sink.tried).toEqual([name]);
  t.cleanup();
});

it("a list with OBU ids no lane matches (digits A-F) is applied, and its status-list.applied is an alarm naming them", async () => {
  const { tempDir } = await import("../journal/helpers.js");
  const t = tempDir("etc-bundles-");
  const dir = join(t.dir, "lists");
  mkdirSync(dir);
  const name = "full-20261123.bundle";
  writeFileSync(join(dir, name), bundle(name, 1500));
  // the list's answer (src/status-list ApplyResult): 3 of its OBU entries have a digit A-F
  class ListsNotDecimal extends FakeSink {
    override async applyBundle(file: string): Promise<unknown> {
      await super.applyBundle(file);
      return { kind: "full", version: "20261123", obusNotDecimal: 3 };
    }
  }
  const sink = new ListsNotDecimal();
  const audited: { type: string; severity?: string; message?: string; data?: object }[] = [];
  rig = await listRig(sink, dir, join(t.dir, "dl"), audited);
  rig.uplink.start();
  await statusWhere(rig.uplink, (s) => s.statusList?.confirmedAt != null, "status list confirmed current");
  expect(audited.filter((e) => e.type.startsWith("status-list."))).toEqual([
    expect.objectContaining({
      type: "status-list.applied",
      severity: "alarm",
      message: expect.stringMatching(
        /^status-list full 20261123 applied; 3 OBU entries have ids with a digit A-F/,
      ),
      data: expect.objectContaining({
        bundle: name,
        version: "20261123",
        source: "station",
        obusNotDecimal: 3,
      }),
    }),
  ]);
  t.cleanup();
});

it("a list with card entries of network 0000 is applied, and its status-list.applied is an alarm naming the count and an example", async () => {
  const { tempDir } = await import("../journal/helpers.js");
  const t = tempDir("etc-bundles-");
  const dir = join(t.dir, "lists");
  mkdirSync(dir);
  const name = "full-20261123.bundle";
  writeFileSync(join(dir, name), bundle(name, 1500));
  // the list's answer (src/status-list ApplyResult): 2 of its card entries have network 0000
  class ListsNoNetwork extends FakeSink {
    override async applyBundle(file: string): Promise<unknown> {
      await super.applyBundle(file);
      return {
        kind: "full",
        version: "20261123",
        obusNotDecimal: 0,
        cardsNoNetwork: 2,
        cardNoNetworkExample: "00001234567890123456",
      };
    }
  }
  const sink = new ListsNoNetwork();
  const audited: { type: string; severity?: string; message?: string; data?: object }[] = [];
  rig = await listRig(sink, dir, join(t.dir, "dl"), audited);
  rig.uplink.start();
  await statusWhere(rig.uplink, (s) => s.statusList?.confirmedAt != null, "status list confirmed current");
  expect(audited.filter((e) => e.type.startsWith("status-list."))).toEqual([
    expect.objectContaining({
      type: "status-list.applied",
      severity: "alarm",
      message: expect.stringMatching(
        /^status-list full 20261123 applied; 2 card entries have network 0000 \(00001234567890123456, \.\.\.\), which no card carries/,
      ),
      data: expect.objectContaining({
        bundle: name,
        source: "station",
        cardsNoNetwork: 2,
        cardNoNetworkExample: "00001234567890123456",
      }),
    }),
  ]);
  t.cleanup();
});

it("nothing offered while the station's latest is newer than the lane's list (a delta of the chain missing): not confirmed, E612 naming both", async () => {
  const { tempDir } = await import("../journal/helpers.js");
  const t = tempDir("etc-bundles-");
  const dir = join(t.dir, "lists");
  mkdirSync(dir);
  // the 0005 -> 0010 delta is missing (misnamed, say): nothing chains from 0005
  for (const name of [
    "full-202611230000.bundle",
    "delta-202611230000-202611230005.bundle",
    "delta-202611230010-202611230015.bundle",
  ])
    writeFileSync(join(dir, name), bundle(name, 100));
  const sink = new FakeSink();
  sink.full = "202611230000";
  sink.delta = "202611230005";
  rig = await listRig(sink, dir, join(t.dir, "dl"), []);
  rig.uplink.start();
  // before: confirmedAt set, lastError null, while the station had 0015
  const s = await statusWhere(rig.uplink, (x) => x.statusList?.lastPollAt != null, "a status-list poll");
  expect(s.statusList).toMatchObject({
    full: "202611230000",
    delta: "202611230005",
    confirmedAt: null,
    lastError: {
      code: "E612_STATION_PROTOCOL",
      message:
        "status-list manifest: the station's latest is 202611230015, but it offers no chain from 202611230005 " +
        "(the lane's): the list is not confirmed current",
      local: false,
    },
  });
  expect(sink.tried).toEqual([]);

  // the missing delta comes: applied, then confirmed current
  const name = "delta-202611230005-202611230010.bundle";
  writeFileSync(join(dir, name), bundle(name, 100));
  const after = await statusWhere(rig.uplink, (x) => x.statusList?.confirmedAt != null, "confirmed current");
  expect(after.statusList).toMatchObject({ delta: "202611230015", lastError: null });
  expect(sink.tried).toEqual([name, "delta-202611230010-202611230015.bundle"]);
  t.cleanup();
});
