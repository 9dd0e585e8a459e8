/**
 * readTokenFile (src/config/token-file.ts), behind station.tokenFile and service.tokenFile: a token of
 * anything but visible ASCII is refused when the config is read, naming the field, not at every request
 * (above U+00FF a header cannot carry it; in U+0080..U+00FF a bearer client sends it as UTF-8 bytes,
 * which Node reads as Latin-1); one it accepts is what src/uplink/station-client.ts sends.
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
    ["s3cret-token-0123\u007f6789\n", "U+007F at character 18"],
  ];
  for (const [text, where] of cases) {
    const path = tokenFile(`t${where.slice(2, 6)}`, text);
    expect(() => readTokenFile(path, "station.tokenFile"), where).toThrow(
      `station.tokenFile: ${path} holds a character that is not visible ASCII (${where}); expected a token of visible ASCII characters (U+0021..U+007E)`,
    );
  }
});

it("refuses a token with a Latin-1 character (U+0080..U+00FF), naming service.tokenFile: curl and Prometheus send it as UTF-8 bytes, never a match", () => {
  const cases: [string, string][] = [
    ["abcdefghijklmnop\u00e9\n", "U+00E9 at character 17"],
    ["s3cret-token-0123456789~\u00ff\n", "U+00FF at character 25"],
    ["s3cret-\u0080token-0123456789\n", "U+0080 at character 8"],
  ];
  for (const [text, where] of cases) {
    const path = tokenFile(`l${where.slice(2, 6)}`, text); // written as UTF-8, as an editor would
    expect(() => readTokenFile(path, "service.tokenFile"), where).toThrow(
      `service.tokenFile: ${path} holds a character that is not visible ASCII (${where}); expected a token of visible ASCII characters (U+0021..U+007E)`,
    );
  }
});

it("a token it accepts, visible ASCII from ! to ~, is what the station client sends as its bearer token", async () => {
  const good = tokenFile("good", "!s3cret-token-0123456789~\n");
  const token = readTokenFile(good, "station.tokenFile");
  expect(token).toBe("!s3cret-token-0123456789~");
  let seen: string | undefined;
  const server = createServer((req, res) => {
    seen = req.headers.authorization;
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
