/**
 * readTokenFile (src/config/token-file.ts), behind station.tokenFile and service.tokenFile: a token an
 * HTTP header cannot carry is refused when the config is read, naming the field, not at every request;
 * one it accepts is what src/uplink/station-client.ts sends.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { readTokenFile } from "../../src/config/token-file.js";
import { StationClient } from "../../src/uplink/station-client.js";

const dir = mkdtempSync(join(tmpdir(), "etc-token-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tokenFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, 0o600);
  return path;
}

it("refuses a token with a character above U+00FF or a control character, naming the field", () => {
  const cases: [string, string][] = [
    ["s3cret-token-012345€6789\n", "U+20AC at character 20"],
    ["s3cret-token-令牌0123456789\n", "U+4EE4 at character 14"],
    ["s3cret-token-0123\u00016789\n", "U+0001 at character 18"],
  ];
  for (const [text, where] of cases) {
    const path = tokenFile(`t${where.slice(2, 6)}`, text);
    expect(() => readTokenFile(path, "station.tokenFile"), where).toThrow(
      `station.tokenFile: ${path} holds a character an HTTP header cannot carry (${where}); expected a token of visible ASCII characters`,
    );
  }
});

it("a token it accepts, up to U+00FF, is what the station client sends as its bearer token", async () => {
  const good = tokenFile("good", "s3cret-token-0123456789~\u00ff\n");
  const token = readTokenFile(good, "station.tokenFile");
  expect(token).toBe("s3cret-token-0123456789~\u00ff");
  let seen: string | undefined;
  const server = createServer((req, res) => {
    seen = req.headers.authorization; // Node reads header bytes as latin1: U+00FF back as U+00FF
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ serverTime: "2026-11-26T00:00:00Z" }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = new StationClient(
    {
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      lane: { network: "4301", station: "0102", lane: 3 },
      requestTimeoutMs: 10_000,
      bundleTimeoutMs: 10_000,
      authToken: token,
    },
    new AbortController().signal,
  );
  try {
    await client.heartbeat({});
    expect(seen).toBe(`Bearer ${token}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
