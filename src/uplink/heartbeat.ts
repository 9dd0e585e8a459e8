/**
 * The lane's heartbeat (docs/station-api.md "Heartbeat"): its state, queue and status-list versions, and
 * the clock-skew measurement from the station's answer. When heartbeats go is the uplink's (./uplink.ts).
 */
import type { StationClient } from "./station-client.js";
import type { StatusListSink } from "./status-list-poller.js";
import type { UplinkStatus } from "./uplink-status.js";

/**
 * Sends one heartbeat carrying `s` (the uplink's status now) and the versions `sink` holds. Returns the
 * station's clock against the lane's (`skewMs` = station time - the lane's clock at the middle of the
 * exchange, the one-way delay taken as half the round trip), or null when the answer carries no time.
 * Throws as every station request does (E611, E612).
 */
export async function sendHeartbeat(
  client: Pick<StationClient, "heartbeat" | "lane">,
  s: UplinkStatus,
  sink: StatusListSink | undefined,
  appVersion: string | undefined,
  now: () => number,
): Promise<UplinkStatus["clock"]> {
  const sentAt = now();
  const answer = await client.heartbeat({
    lane: client.lane,
    time: new Date(now()).toISOString(),
    appVersion: appVersion ?? null,
    uplink: { state: s.state, queueDepth: s.queueDepth, oldestPendingAgeMs: s.oldestPendingAgeMs },
    statusList: sink
      ? {
          ...sink.versions(),
          confirmedAt: s.statusList?.confirmedAt ?? null,
          lastError: s.statusList?.lastError ?? null,
        }
      : null,
  });
  if (answer.serverTimeMs === null) return null;
  const back = now();
  return {
    skewMs: answer.serverTimeMs - (sentAt + back) / 2,
    roundTripMs: back - sentAt,
    measuredAt: new Date(back).toISOString(),
  };
}
