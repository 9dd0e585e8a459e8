/**
 * `station.tokenFile`: the running lane (openLane) sends its token to the station as a bearer token on
 * every request, and its heartbeat names the software's version; a token file others can read, or one
 * that is missing, stops the lane from opening with an error naming the field.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { parseLaneConfig } from "../../src/config/index.js";
import { openLane } from "../../src/lane/runtime.js";
import { APP_VERSION } from "../../src/version.js";

const TOKEN = "station-token-0123456789";
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
});

function laneConfig(dir: string, url: string) {
  return parseLaneConfig(
    {
      lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
      rsu: { port: "/dev/ttyUSB0", protocol: "legacy" },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
      station: { url, tokenFile: "station.token" },
      dataDir: "data",
      tariff: "tariff.yaml",
    },
    "lane.yaml",
    dir,
  );
}

describe("station.tokenFile", () => {
  it("the lane sends the token as a bearer token, and its heartbeat names the version", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-station-token-"));
    dirs.push(dir);
    writeFileSync(join(dir, "station.token"), `${TOKEN}\n`, { mode: 0o600 });
    let heartbeat!: (r: { auth: string | undefined; body: { appVersion?: unknown } }) => void;
    const firstHeartbeat = new Promise<{ auth: string | undefined; body: { appVersion?: unknown } }>(
      (resolve) => {
        heartbeat = resolve;
      },
    );
    const auths = new Set<string | undefined>();
    const server = createServer((req: IncomingMessage, res) => {
      auths.add(req.headers.authorization);
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        if (req.url?.endsWith("/heartbeat")) {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ serverTime: new Date().toISOString() }));
          heartbeat({ auth: req.headers.authorization, body: JSON.parse(body) });
        } else {
          res.writeHead(404, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: "NOT_FOUND", message: "not here" }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const lane = await openLane(laneConfig(dir, url), {
      transport: createTransportPair().lane,
      outputs: { emit: () => {} },
    });
    try {
      const hb = await firstHeartbeat;
      expect(hb.auth).toBe(`Bearer ${TOKEN}`);
      expect(hb.body.appVersion).toBe(APP_VERSION);
    } finally {
      await lane.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    // every request the lane made carried it
    expect([...auths]).toEqual([`Bearer ${TOKEN}`]);
  });

  it("a token file others can read, or none, stops the lane from opening, naming the field", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-station-token-"));
    dirs.push(dir);
    const c = laneConfig(dir, "http://station.invalid:8640");
    expect(c.station?.tokenFile).toBe(join(dir, "station.token"));
    const open = () => openLane(c, { transport: createTransportPair().lane, outputs: { emit: () => {} } });
    await expect(open()).rejects.toThrow(/station\.tokenFile: cannot read .*station\.token/);
    writeFileSync(join(dir, "station.token"), TOKEN);
    chmodSync(join(dir, "station.token"), 0o644);
    await expect(open()).rejects.toThrow(/station\.tokenFile: .* can be read by other users \(mode 644\)/);
    // refused before anything was opened or written: no data directory, no audit trail
    expect(existsSync(join(dir, "data"))).toBe(false);
  });
});
