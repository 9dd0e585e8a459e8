/**
 * The SHA-256 and size of a file's bytes, as the lane records a file it loaded (the config, the tariff:
 * src/audit/events.ts lane.start, tariff.loaded). Taken from the bytes the lane parsed, never from a
 * second read: a file replaced while the lane starts would be recorded with the new digest and the old
 * contents charged.
 */
import { createHash } from "node:crypto";

/** A file the lane loaded, with the SHA-256 of its bytes (compare with `sha256sum FILE`). */
export interface FileDigest {
  path: string;
  sha256: string;
  bytes: number;
}

export function digestOf(path: string, bytes: Uint8Array): FileDigest {
  return { path, sha256: createHash("sha256").update(bytes).digest("hex"), bytes: bytes.length };
}
