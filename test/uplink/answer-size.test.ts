/**
 * The station's answers are read with a cap (review, uplink finding 2): the client read every answer whole
 * (res.text(), res.arrayBuffer()), so a station, proxy or captive portal answering with gigabytes filled
 * the lane's heap within the request's deadline; a manifest could name any page size. Now a JSON answer
 * over MAX_ANSWER_BYTES is E612, a page longer than the manifest gives it E614, both given up before a
 * byte is read when the content-length says so and else at the first chunk over; a pageSize over
 * MAX_PAGE_BYTES makes the manifest E612. A local HTTP server sends the oversized bodies.
 */

import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import type { PendingRecord } from "../../src/journal/types.js";
import {
  type BundleInfo,
  MAX_ANSWER_BYTES,
  MAX_PAGE_BYTES,
  StationClient,
} from "../../src/uplink/station-client.js";
import { rejectionOf } from "../helpers/rejection.js";
import { LANE } from "../journal/helpers.js";

let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, res) => res.end();
let server: Server;
let url = "";

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const TOTAL = 64 * 1024 * 1024;

/**
 * Answers with `head`, then `TOTAL` bytes of `x` written as the client takes them (backpressure), then
 * `tail`; `closed` resolves with how many bytes the client took when the response closes (ended or cut).
 */
function streamer(head: string, tail: string, headers: Record<string, string> = {}) {
  let sent = 0;
  let done!: (n: { sent: number; finished: boolean }) => void;
  const closed = new Promise<{ sent: number; finished: boolean }>((r) => {
    done = r;
  });
  handler = (_req, res) => {
    res.on("close", () => done({ sent, finished: res.writableFinished }));
    res.writeHead(200, { "content-type": "application/json", ...headers });
    void (async () => {
      res.write(head);
      const chunk = Buffer.alloc(64 * 1024, "x");
      while (sent < TOTAL && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk))
          await new Promise<void>((r) => {
            const go = (): void => {
              res.off("drain", go);
              res.off("close", go);
              r();
            };
            res.on("drain", go);
            res.on("close", go);
          });
      }
      if (!res.destroyed) res.end(tail);
    })();
  };
  return closed;
}

function client(): StationClient {
  return new StationClient(
    { baseUrl: url, lane: LANE, requestTimeoutMs: 30_000, bundleTimeoutMs: 30_000 },
    new AbortController().signal,
  );
}

const record: PendingRecord = {
  seq: 1,
  tradeId: "43010102030000000000000000000001",
  kind: "transaction",
  revision: 1,
  createdAtMs: 0,
  json: "{}",
};

function bundle(over: Partial<BundleInfo> = {}): BundleInfo {
  return {
    name: "full-202611260000.bundle",
    kind: "full",
    base: null,
    version: "202611260000",
    bytes: 2500,
    sha256: "0".repeat(64),
    pageSize: 1000,
    pages: 3,
    ...over,
  };
}

it("an upload answer over the cap, valid JSON when read whole, with no content-length: E612 at the first chunk over, the rest never taken", async () => {
  const closed = streamer('{"accepted":[],"rejected":[],"pad":"', '"}');
  const err = await rejectionOf(client().upload([record]));
  expect(isEtcError(err, "E612_STATION_PROTOCOL")).toBe(true);
  expect((err as Error).message).toBe(
    `station upload: answer over the lane's limit of ${MAX_ANSWER_BYTES} bytes: not read`,
  );
  const c = await closed;
  expect(c.finished).toBe(false);
  expect(c.sent).toBeLessThan(TOTAL);
});

it("an answer whose content-length is over the cap: E612 before its body is read", async () => {
  handler = (_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": String(2 ** 30) });
    res.write("{"); // and never more: only the header can end the read
  };
  const err = await rejectionOf(client().manifest({ full: null, delta: null }));
  expect(isEtcError(err, "E612_STATION_PROTOCOL")).toBe(true);
  expect((err as Error).message).toBe(
    `station status-list manifest: answer over the lane's limit of ${MAX_ANSWER_BYTES} bytes (content-length ${2 ** 30}): not read`,
  );
});

it("a bundle page longer than the manifest gives it, with no content-length: E614 at the first chunk over", async () => {
  const closed = streamer("", "");
  const err = await rejectionOf(client().bundlePage(bundle(), 0));
  expect(isEtcError(err, "E614_STATUS_LIST_BUNDLE")).toBe(true);
  expect((err as Error).message).toBe(
    "status-list bundle full-202611260000.bundle: page 1/3 is longer than the 1000 bytes the manifest's 2500 " +
      "bytes in pages of 1000 give it: not read further",
  );
  const c = await closed;
  expect(c.finished).toBe(false);
  expect(c.sent).toBeLessThan(TOTAL);
});

it("a bundle page whose content-length is over its length (the last page, 500 bytes): E614 before its body is read", async () => {
  handler = (_req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": "5000" });
    res.end(Buffer.alloc(5000));
  };
  const err = await rejectionOf(client().bundlePage(bundle(), 2));
  expect(isEtcError(err, "E614_STATUS_LIST_BUNDLE")).toBe(true);
  expect((err as Error).message).toMatch(/page 3\/3 is longer than the 500 bytes .* \(content-length 5000\)/);
});

it("a bundle page of its length is read whole", async () => {
  handler = (_req, res) => res.end(Buffer.alloc(1000, 7));
  expect(await client().bundlePage(bundle(), 1)).toEqual(Buffer.alloc(1000, 7));
});

// second review: fetch inflates a gzip answer, whose content-length counts the compressed bytes; a page that
// compresses badly is longer compressed than its length and was refused before a byte was read
it("a gzip page whose compressed content-length is over its length is read whole (the inflated bytes count)", async () => {
  const page = randomBytes(1000);
  const gz = gzipSync(page, { level: 0 });
  expect(gz.length).toBeGreaterThan(1000);
  handler = (_req, res) => {
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-encoding": "gzip",
      "content-length": String(gz.length),
    });
    res.end(gz);
  };
  expect(await client().bundlePage(bundle(), 1)).toEqual(page);
});

it("a manifest whose pageSize is over MAX_PAGE_BYTES: E612 naming the field", async () => {
  const big = bundle({ pageSize: MAX_PAGE_BYTES + 1, bytes: MAX_PAGE_BYTES + 1, pages: 1 });
  handler = (_req, res) =>
    res.end(JSON.stringify({ full: big, deltas: [], latest: { full: big.version, delta: null } }));
  const err = await rejectionOf(client().manifest({ full: null, delta: null }));
  expect(isEtcError(err, "E612_STATION_PROTOCOL")).toBe(true);
  expect((err as Error).message).toContain(
    `pageSize over the lane's limit of ${MAX_PAGE_BYTES} bytes per page`,
  );
  // at the limit it is taken
  const ok = bundle({ pageSize: MAX_PAGE_BYTES, bytes: MAX_PAGE_BYTES, pages: 1 });
  handler = (_req, res) =>
    res.end(JSON.stringify({ full: ok, deltas: [], latest: { full: ok.version, delta: null } }));
  expect((await client().manifest({ full: null, delta: null })).full?.pageSize).toBe(MAX_PAGE_BYTES);
});
