import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { type BundleInfo, StationClient } from "../../src/uplink/station-client.js";
import { tempDir } from "../journal/helpers.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A station that serves `body` in pages of `pageSize` bytes. */
function client(body: Buffer, pageSize: number): StationClient {
  const fetchPage = async (url: string | URL | Request): Promise<Response> => {
    const p = Number(new URL(String(url)).searchParams.get("page"));
    return new Response(body.subarray(p * pageSize, (p + 1) * pageSize));
  };
  return new StationClient(
    {
      baseUrl: "http://station.test",
      lane: { network: "4301", station: "0102", lane: 3 },
      requestTimeoutMs: 1000,
      bundleTimeoutMs: 1000,
      fetch: fetchPage as typeof fetch,
    },
    new AbortController().signal,
  );
}

function info(body: Buffer, pageSize: number, over: Partial<BundleInfo> = {}): BundleInfo {
  return {
    name: "full-202611260000.bundle",
    kind: "full",
    base: null,
    version: "202611260000",
    bytes: body.length,
    sha256: createHash("sha256").update(body).digest("hex"),
    pageSize,
    pages: Math.ceil(body.length / pageSize),
    ...over,
  };
}

// 600 KB pages: each is hashed in three slices
const body = Buffer.from(Array.from({ length: 1_500_000 }, (_, i) => (i * 7919) & 0xff));

it("writes the pages to the file and checks length and SHA-256", async () => {
  const t = tempDir("etc-dl-");
  cleanups.push(t.cleanup);
  const file = join(t.dir, "b.download");
  await client(body, 600_000).bundle(info(body, 600_000), file);
  expect(readFileSync(file).equals(body)).toBe(true);
});

it("a bundle that does not match the manifest is refused (E614) and its file removed", async () => {
  const t = tempDir("etc-dl-");
  cleanups.push(t.cleanup);
  const file = join(t.dir, "b.download");
  const tampered = Buffer.from(body);
  tampered.writeUInt8(tampered.readUInt8(1_000_000) ^ 1, 1_000_000);
  let err: unknown;
  try {
    await client(tampered, 600_000).bundle(info(body, 600_000), file);
  } catch (e) {
    err = e;
  }
  expect(isEtcError(err, "E614_STATUS_LIST_BUNDLE")).toBe(true);
  expect((err as Error).message).toMatch(/manifest says 1500000 bytes/);
  expect(existsSync(file)).toBe(false);
});
