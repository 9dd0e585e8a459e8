/**
 * Composition of one lane process from its config: transport, RSU link, codec, journal, status list,
 * tariff, audit, uplink, outputs and the controller. `etc-lane run` and the simulator demo both use it;
 * the demo passes its own in-process transport, nothing else differs.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import type { RsuLinkOptionsInput } from "../../firmware-bridge/link/options.js";
import { RsuLink } from "../../firmware-bridge/link/rsu-link.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import { createTcpClientTransport } from "../../firmware-bridge/transport/tcp.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { AuditLog } from "../audit/index.js";
import { openWireCapture } from "../capture/wire-capture.js";
import { dialectFromConfig } from "../config/load.js";
import type { LaneConfig } from "../config/schema.js";
import { Journal } from "../journal/index.js";
import { consoleOutputs, type LaneOutputs, logOutputs } from "../outputs/outputs.js";
import { createRsuCodec } from "../rsu/driver-codec.js";
import { StatusListCache } from "../status-list/index.js";
import { Tariff } from "../tariff/tariff.js";
import { Uplink } from "../uplink/index.js";
import { LaneController } from "./controller.js";

export interface LaneRuntimeDeps {
  /** overrides rsu.port (the demo's in-process pair, a test pty) */
  transport?: Transport;
  logger?: Logger;
  outputs?: LaneOutputs;
  /** extra link options (tests shorten the auto-ack or dedupe window) */
  link?: RsuLinkOptionsInput;
  /** false: no station uplink even if configured (tests, demo) */
  uplink?: boolean;
  wallNow?: () => number;
}

export interface LaneRuntime {
  readonly controller: LaneController;
  readonly link: RsuLink;
  readonly journal: Journal;
  readonly statusList: StatusListCache;
  readonly tariff: Tariff | null;
  readonly audit: AuditLog;
  readonly uplink: Uplink | null;
  close(): Promise<void>;
}

export function transportFor(c: LaneConfig): Transport {
  const m = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(c.rsu.port);
  if (m) return createTcpClientTransport({ host: m[1] as string, port: Number(m[2]) });
  if (c.rsu.port.startsWith("tcp:")) {
    throw new EtcError(ErrorCodes.ConfigInvalid, `rsu.port: expected tcp://host:port, got "${c.rsu.port}"`);
  }
  return createSerialTransport({ path: c.rsu.port, baudRate: c.rsu.baudRate });
}

export async function openLane(c: LaneConfig, deps: LaneRuntimeDeps = {}): Promise<LaneRuntime> {
  const logger = deps.logger ?? silentLogger;
  const dialect = dialectFromConfig(c);
  const tariff = c.lane.role === "exit" ? Tariff.load(c.tariff) : null;
  let publicKeyPem: string;
  try {
    publicKeyPem = readFileSync(c.statusList.publicKey, "utf8");
  } catch (e) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `statusList.publicKey: cannot read ${c.statusList.publicKey} (${(e as Error).message})`,
    );
  }
  mkdirSync(c.dataDir, { recursive: true });
  const laneIdentity = { network: c.lane.network, station: c.lane.station, lane: c.lane.lane };
  const journal = Journal.open({ dataDir: c.dataDir, laneIdentity, logger });
  const cleanups: (() => Promise<void> | void)[] = [() => journal.close()];
  try {
    const statusList = await StatusListCache.open({
      dataDir: c.dataDir,
      publicKeyPem,
      logger,
      limits: {
        fullMaxAgeMs: c.statusList.fullMaxAgeMinutes * 60_000,
        deltaMaxAgeMs: c.statusList.deltaMaxAgeMinutes * 60_000,
      },
      compaction: { maxRows: c.statusList.overlayMaxRows },
    });
    cleanups.unshift(() => statusList.close());
    const audit = AuditLog.open({ dataDir: c.dataDir, logger });
    cleanups.unshift(() => audit.close());
    const capture = openWireCapture(c, logger);
    if (capture) cleanups.push(() => capture.close());
    const port = deps.transport ?? transportFor(c);
    const transport = capture ? capture.wrap(port, "rsu", c.rsu.protocol) : port;
    const link = new RsuLink({
      transport,
      dialect,
      logger,
      options: {
        heartbeatPeriodMs: c.rsu.timing.heartbeatPeriodMs,
        missedHeartbeats: c.rsu.timing.missedHeartbeats,
        ...deps.link,
      },
    });
    const outputs = deps.outputs ?? (c.outputs.sink === "console" ? consoleOutputs() : logOutputs(logger));
    const controller = new LaneController({
      lane: c.lane,
      link,
      codec: createRsuCodec(dialect),
      journal,
      statusList,
      tariff,
      outputs,
      c0: c.rsu.c0,
      timing: c.rsu.timing,
      transaction: c.transaction,
      entryWrite: c.rsu.entryWrite,
      alreadyTradedStopType: c.rsu.alreadyTradedStopType,
      logger,
      audit,
      ...(deps.wallNow ? { wallNow: deps.wallNow } : {}),
    });
    let uplink: Uplink | null = null;
    if (c.station && deps.uplink !== false) {
      uplink = new Uplink({
        stationUrl: c.station.url,
        batchSize: c.station.batchSize,
        requestTimeoutMs: c.station.requestTimeoutMs,
        breaker: { coolDownMs: c.station.breakerCoolDownMs },
        statusListPollMs: c.station.statusListPollMs,
        downloadDir: join(c.dataDir, "downloads"),
        outbox: journal,
        lane: laneIdentity,
        statusList,
        audit,
        logger,
      });
      uplink.start();
      const u = uplink;
      cleanups.unshift(() => u.stop());
    }
    return {
      controller,
      link,
      journal,
      statusList,
      tariff,
      audit,
      uplink,
      async close() {
        await controller.stop();
        for (const f of cleanups) {
          try {
            await f();
          } catch (e) {
            logger.warn({ err: (e as Error).message }, "close step failed");
          }
        }
      },
    };
  } catch (e) {
    for (const f of cleanups) await Promise.resolve(f()).catch(() => undefined);
    throw e;
  }
}
