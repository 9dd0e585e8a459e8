/**
 * Token files: `service.tokenFile` (the token the status service asks of clients off loopback) and
 * `station.tokenFile` (the token the uplink sends the station). One token of at least 16 characters,
 * each a visible ASCII character (U+0021..U+007E: no space, no control character, nothing above), in a
 * file only its owner can read.
 */
import { readFileSync, statSync } from "node:fs";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";

/** Reads the token file of config field `field`; refuses a missing, empty, short or group/world-readable file, naming the field. */
export function readTokenFile(path: string, field: string): string {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new EtcError(ErrorCodes.ConfigInvalid, `${field}: cannot read ${path} (${(e as Error).message})`);
  }
  if ((mode & 0o077) !== 0)
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `${field}: ${path} can be read by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
    );
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token))
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `${field}: ${path} must hold one token of at least 16 characters without spaces`,
    );
  // an HTTP header carries bytes, which Node reads as Latin-1: a character above U+00FF (or a control
  // character) makes every request src/uplink/station-client.ts sends throw before it is sent, and one in
  // U+0080..U+00FF is sent by a bearer client (curl, a Prometheus credentials_file) as its UTF-8 bytes,
  // which src/service/http/token-auth.ts reads as two other characters: that token would never match,
  // while the sign-in form (a UTF-8 body) would. Only visible ASCII is the same either way. The station's
  // token is held to the same rule on purpose (a bearer token is ASCII, RFC 6750 b64token): one in
  // U+0080..U+00FF went as its Latin-1 byte, which a station reading UTF-8 would not match either.
  const chars = [...token];
  const bad = chars.findIndex((ch) => {
    const c = ch.codePointAt(0) ?? 0;
    return c < 0x21 || c > 0x7e;
  });
  if (bad >= 0) {
    const code = (chars[bad]?.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `${field}: ${path} holds a character that is not visible ASCII (U+${code} at character ${bad + 1}); ` +
        "expected a token of visible ASCII characters (U+0021..U+007E)",
    );
  }
  return token;
}
