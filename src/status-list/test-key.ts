/**
 * The simulator's status-list TEST key, config/keys/station-test.pub.pem. Its private key,
 * config/keys/station-test.key.pem, is public in this repository: anyone can sign a status list this key
 * accepts. `etc-lane run` (and `run --check`) refuse it as `statusList.publicKey` unless the config says
 * `statusList.allowTestKey: true` (src/config/preflight.ts). The key itself is compared, not its path, so
 * a copy under another name is recognised too.
 */
import type { KeyObject } from "node:crypto";

/** The raw 32-byte Ed25519 public key of config/keys/station-test.pub.pem, base64. */
export const TEST_KEY_RAW_BASE64 = "Wuk/yHOr7pkOAfRE7L0Kc7K1TPMqHfD/Ah+0d7ZTR3o=";

/** Is `key` (an Ed25519 public key) the repository's test key? */
export function isRepositoryTestKey(key: KeyObject): boolean {
  const jwk = key.export({ format: "jwk" });
  return jwk.x !== undefined && Buffer.from(jwk.x, "base64url").toString("base64") === TEST_KEY_RAW_BASE64;
}
