/** The smallest lane config the schema takes, and the message a refused one gets: shared by the config tests. */
import { isEtcError } from "../../firmware-bridge/errors.js";
import { parseLaneConfig } from "../../src/config/index.js";

export const MINIMAL_LANE_CONFIG = {
  lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
  rsu: { port: "/dev/ttyUSB0", protocol: "legacy" },
  statusList: { publicKey: "keys/station.pub" },
  dataDir: "data",
  tariff: "tariff.yaml",
};

/** The E401 message of a config the schema refuses; throws if it is taken or refused otherwise. */
export function configErrorOf(raw: unknown): string {
  try {
    parseLaneConfig(raw, "lane.yaml", "/etc/etc-lane");
  } catch (e) {
    if (isEtcError(e, "E401_CONFIG_INVALID")) return e.message;
    throw e;
  }
  throw new Error("expected the config to be refused");
}
