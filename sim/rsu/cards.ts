/**
 * Where the simulated RSU gets its cards and PSAM: by default sim/card's APDU-level models with the
 * test keys (config/keys/card-test-keys.json), so every TAC the RSU reports verifies with those keys.
 */

import { encode0015, encode0019 } from "../card/card-files.js";
import { type CardKeys, loadCardKeys } from "../card/crypto/keys.js";
import { SimCard } from "../card/sim-card.js";
import { createPsam } from "../card/sim-psam.js";
import type { SimCardApi, SimPsamApi } from "../card/types.js";
import type { CardModelSpec } from "../vehicles/vehicles.js";

export interface CardEnvironment {
  /** A card in the state `spec` describes; `random` feeds INITIALIZE FOR CAPP PURCHASE (seeded runs). */
  createCard(spec: CardModelSpec, random: () => Buffer): SimCardApi;
  createPsam(terminalNo: string): SimPsamApi;
}

/** sim/card models diversified from `keys` (default: the test key file). */
export function cardEnvironment(keys: CardKeys = loadCardKeys()): CardEnvironment {
  return {
    createCard: (spec, random) =>
      new SimCard(
        {
          file0015: encode0015(spec.file0015),
          file0019: encode0019(spec.file0019),
          balance: spec.balance,
          offlineSerial: spec.offlineSerial,
        },
        { keys, random },
      ),
    createPsam: (terminalNo) => createPsam({ terminalNo, keys }),
  };
}
