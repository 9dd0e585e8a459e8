/**
 * What an E611 for a request that got no answer says (src/uplink/station-client.ts networkError,
 * causeText): the station's host:port and the cause's message with its code, where it said only the
 * code ("station heartbeat: ECONNREFUSED"), or dropped the message ("UND_ERR_SOCKET" without "other side
 * closed"), or "bad port" with no word of the port. Real sockets on 127.0.0.1, and a stub fetch for a
 * refused connection.
 */
import { createServer, type Server } from "node:http";
import { afterEach, expect, it } from "vitest";
import { StationClient } from "../../src/uplink/station-client.js";
import { LANE } from "../journal/helpers.js";

let srv: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (srv ? srv.close(() => r()) : r()));
  srv = undefined;
});

const client = (baseUrl: string, f?: typeof fetch) =>
  new StationClient(
    { baseUrl, lane: LANE, requestTimeoutMs: 5000, bundleTimeoutMs: 5000, ...(f ? { fetch: f } : {}) },
    new AbortController().signal,
  );

async function failure(c: StationClient): Promise<{ code?: string; message: string; details?: unknown }> {
  try {
    await c.heartbeat({});
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error("the heartbeat was answered");
}

// what undici's fetch rejects with when the connection is refused: a port another test's server took
// meanwhile cannot answer it, as a real port freed for the purpose could
const refused = (port: number) =>
  (async () => {
    throw new TypeError("fetch failed", {
      cause: Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:${port}`), {
        code: "ECONNREFUSED",
        errno: -111,
        syscall: "connect",
        address: "127.0.0.1",
        port,
      }),
    });
  }) as unknown as typeof fetch;

it("a refused connection names the host:port", async () => {
  const port = 8466;
  expect(await failure(client(`http://127.0.0.1:${port}`, refused(port)))).toMatchObject({
    code: "E611_STATION_UNREACHABLE",
    message: `station heartbeat at 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
    details: { station: `127.0.0.1:${port}` },
  });
});

it("a connection the station closes without an answer: the socket error's message and code", async () => {
  srv = createServer((q) => q.socket.destroy());
  await new Promise<void>((r) => srv!.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  expect((await failure(client(`http://127.0.0.1:${port}`))).message).toBe(
    `station heartbeat at 127.0.0.1:${port}: other side closed (UND_ERR_SOCKET)`,
  );
});

it("a port fetch refuses: the port and what to do; a URL without a port names the scheme's", async () => {
  expect((await failure(client("http://127.0.0.1:6000"))).message).toBe(
    "station heartbeat at 127.0.0.1:6000: bad port: fetch refuses to connect to port 6000 (a port the Fetch " +
      "Standard blocks): give station.url another port",
  );
  const refusedBoth = (async () => {
    throw new TypeError("fetch failed", {
      cause: Object.assign(
        new AggregateError(
          [new Error("connect ECONNREFUSED ::1:443"), new Error("connect ECONNREFUSED 127.0.0.1:443")],
          "",
        ),
        { code: "ECONNREFUSED" },
      ),
    });
  }) as unknown as typeof fetch;
  expect((await failure(client("https://station.local/api", refusedBoth))).message).toBe(
    "station heartbeat at station.local:443: connect ECONNREFUSED ::1:443; connect ECONNREFUSED 127.0.0.1:443",
  );
});
