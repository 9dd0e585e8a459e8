/**
 * What the lane writes into its trail on its own: lane.start with the config file's digest, the tariff
 * with its digest, the status list it opened with, journal errors, lane.stop, and the checkpoint that
 * seals them at close (src/lane/runtime.ts), through the typed events API (src/audit/events.ts).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BehaviorSubject, filter, firstValueFrom, Subject } from "rxjs";
import { describe, expect, it } from "vitest";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import type { Transport, TransportState } from "../../firmware-bridge/transport/types.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import type { AuditEventInput } from "../../src/audit/entry.js";
import { fileDigest, LaneEvents } from "../../src/audit/events.js";
import { parseLaneConfig } from "../../src/config/load.js";
import { openLane } from "../../src/lane/runtime.js";
import { auditApplied } from "../../src/lane/status-list-audit.js";
import { PROJECT_ROOT } from "../helpers/cli.js";
import { allLines, tempDir, verify } from "./helpers.js";

const sha = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("lane events", () => {
  it("each typed call writes its kind, severity and data", () => {
    const got: AuditEventInput[] = [];
    const ev = new LaneEvents({ append: (e) => got.push(e) });
    ev.rsuLink("down", "watchdog: no byte for 30 s", "/dev/ttyUSB0");
    ev.statusListRefused({ bundle: "delta-1.bundle", reason: "older than the held version", code: "E5" });
    ev.laneClosed("rsu-down", "RSU link down: watchdog");
    ev.journalRetention({ deleted: [[1, 200]], count: 200, cutoff: "2026-08-28T00:00:00.000Z" });
    expect(got.map((e) => [e.type, e.severity])).toEqual([
      ["rsu.link", "alarm"],
      ["status-list.refused", "alarm"],
      ["lane.closed", "alarm"],
      ["journal.retention", "info"],
    ]);
    expect(got[0]!.data).toEqual({
      state: "down",
      reason: "watchdog: no byte for 30 s",
      port: "/dev/ttyUSB0",
    });
    expect(got[2]!.message).toBe("lane closed: rsu-down (RSU link down: watchdog)");
  });

  it("status-list.applied is an alarm naming them when the bundle lists OBU ids no lane matches (digits A-F)", () => {
    const got: AuditEventInput[] = [];
    const ev = new LaneEvents({ append: (e) => got.push(e) });
    const applied = {
      kind: "full" as const,
      version: "202611230000",
      base: null,
      adds: 5,
      removes: 0,
      cards: 2,
      obus: 3,
      ms: 1,
      versions: { full: "202611230000", delta: null },
      cardsNoNetwork: 0,
      cardNoNetworkExample: null,
    };
    auditApplied(ev, { ...applied, obusNotDecimal: 0 }, "full.bundle", "operator");
    auditApplied(ev, { ...applied, obusNotDecimal: 2 }, "full.bundle", "operator");
    expect(got.map((e) => [e.type, e.severity])).toEqual([
      ["status-list.applied", "info"],
      ["status-list.applied", "alarm"],
    ]);
    expect(got[0]!.data).not.toHaveProperty("obusNotDecimal");
    expect(got[1]!.data).toMatchObject({ version: "202611230000", source: "operator", obusNotDecimal: 2 });
    expect(got[1]!.message).toBe(
      "status-list full 202611230000 applied; 2 OBU entries have ids with a digit A-F, which no lane matches " +
        "(an OBU id is its contract serial's 16 BCD digits; a station that writes serials as integers makes " +
        "them): those OBUs pass",
    );
  });

  it("status-list.applied is an alarm naming the count and an example when the bundle lists cards of network 0000", () => {
    const got: AuditEventInput[] = [];
    const ev = new LaneEvents({ append: (e) => got.push(e) });
    const applied = {
      kind: "delta" as const,
      version: "202611230005",
      base: "202611230000",
      adds: 5,
      removes: 0,
      cards: 5,
      obus: 0,
      obusNotDecimal: 0,
      cardsNoNetwork: 0,
      cardNoNetworkExample: null,
      ms: 1,
      versions: { full: "202611230000", delta: "202611230005" },
    };
    auditApplied(ev, applied, "d.bundle", "operator");
    auditApplied(
      ev,
      { ...applied, cardsNoNetwork: 3, cardNoNetworkExample: "00001234567890123456" },
      "d.bundle",
      "operator",
    );
    auditApplied(
      ev,
      { ...applied, obusNotDecimal: 1, cardsNoNetwork: 1, cardNoNetworkExample: "00000000000000000007" },
      "d.bundle",
      "operator",
    );
    expect(got.map((e) => [e.type, e.severity])).toEqual([
      ["status-list.applied", "info"],
      ["status-list.applied", "alarm"],
      ["status-list.applied", "alarm"],
    ]);
    expect(got[0]!.data).not.toHaveProperty("cardsNoNetwork");
    expect(got[0]!.data).not.toHaveProperty("cardNoNetworkExample");
    expect(got[1]!.data).toMatchObject({ cardsNoNetwork: 3, cardNoNetworkExample: "00001234567890123456" });
    expect(got[1]!.data).not.toHaveProperty("obusNotDecimal");
    expect(got[1]!.message).toBe(
      "status-list delta 202611230005 applied; 3 card entries have network 0000 (00001234567890123456, ...), " +
        "which no card carries (a card id is its 0015 network, 4 digits, then its 16-digit serial; a station " +
        "that lists cards by their serial alone makes them): they match no card, and those cards pass",
    );
    // both kinds: both named, in one entry
    expect(got[2]!.data).toMatchObject({ obusNotDecimal: 1, cardsNoNetwork: 1 });
    expect(got[2]!.message).toMatch(
      /applied; 1 OBU entry has an id with a digit A-F, .*; 1 card entry has network 0000 \(00000000000000000007\), which no card carries/,
    );
  });

  it("an RSU port that never opens: one rsu.link down alarm with why (not one per attempt), the lane closed", async () => {
    const { dir, cleanup } = tempDir("etc-audit-noport-");
    try {
      const c = parseLaneConfig(
        {
          lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
          rsu: {
            port: "/dev/ttyUSB9",
            protocol: "legacy",
            link: { backoffInitialMs: 10, backoffMaxMs: 20 },
          },
          statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
          dataDir: join(dir, "data"),
          tariff: join(PROJECT_ROOT, "config/tariff.example.yaml"),
          outputs: { sink: "log" },
        },
        "test",
      );
      const missing = new EtcError(ErrorCodes.PortOpenFailed, "serial port /dev/ttyUSB9 not found");
      const transport: Transport = {
        name: "serial:/dev/ttyUSB9",
        data$: new Subject<Buffer>(),
        state$: new BehaviorSubject<TransportState>({ status: "closed" }),
        status: "closed",
        open: () => Promise.reject(missing),
        write: () => Promise.reject(missing),
        close: () => Promise.resolve(),
      };
      const lane = await openLane(c, { transport, uplink: false });
      try {
        await lane.controller.start();
        // three failed opens, each a "down" of the link
        await firstValueFrom(
          lane.link.state$.pipe(filter((s) => s.status === "down" && lane.link.counters.openFailures >= 3)),
        );
        await lane.controller.idle();
      } finally {
        await lane.close();
      }
      const es = allLines(c.dataDir).map(
        (l) => JSON.parse(l.text) as { type: string; severity: string; data: Record<string, unknown> },
      );
      const link = es.filter((e) => e.type === "rsu.link");
      expect(link).toHaveLength(1);
      expect(link[0]).toMatchObject({
        severity: "alarm",
        data: { state: "down", reason: expect.stringContaining("serial port /dev/ttyUSB9 not found") },
      });
      expect(es.some((e) => e.type === "lane.closed")).toBe(true);
    } finally {
      cleanup();
    }
  });

  it("the lane writes its start with the config and tariff digests, its stop, and seals them", async () => {
    const { dir, cleanup } = tempDir("etc-audit-events-");
    try {
      const configPath = join(PROJECT_ROOT, "config/lane.example.yaml");
      const tariff = join(PROJECT_ROOT, "config/tariff.example.yaml");
      const c = parseLaneConfig(
        {
          lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
          rsu: { port: "in-process", protocol: "legacy" },
          statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
          dataDir: join(dir, "data"),
          tariff,
          outputs: { sink: "log" },
        },
        "test",
      );
      const lane = await openLane(c, {
        transport: createTransportPair().lane,
        uplink: false,
        configFile: fileDigest(configPath),
        appVersion: "9.9.9",
      });
      await lane.close();
      const es = allLines(c.dataDir).map(
        (l) => JSON.parse(l.text) as { type: string; data: Record<string, unknown> },
      );
      expect(es.map((e) => e.type)).toEqual([
        "journal.bound",
        "lane.start",
        "tariff.loaded",
        "status-list.loaded",
        "lane.stop",
        "audit.checkpoint",
      ]);
      // a fresh journal: bound from seq 1, its upload state (nothing queued or held yet) with it
      expect(es[0]!.data).toEqual({
        boundFrom: 1,
        uploads: { queued: [], held: [], queuedCount: 0, heldCount: 0 },
      });
      expect(es[1]!.data).toMatchObject({
        version: "9.9.9",
        lane: "4301010203",
        role: "exit",
        config: { path: configPath, sha256: sha(configPath) },
      });
      expect(es[2]!.data).toMatchObject({ path: tariff, sha256: sha(tariff), version: "2025.07-demo" });
      expect(verify(c.dataDir).ok).toBe(true);
    } finally {
      cleanup();
    }
  });
});
