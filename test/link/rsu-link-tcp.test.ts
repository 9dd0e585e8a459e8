/** RsuLink over real TCP sockets (real timers, short backoff): the RSU side drops the connection. */
import { filter, firstValueFrom, Subject } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCodes } from "../../firmware-bridge/errors.js";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_LEGACY_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { createDeframer } from "../../firmware-bridge/framing/index.js";
import { encodeLegacy } from "../../firmware-bridge/framing/legacy.js";
import { type IncomingFrame, RsuLink } from "../../firmware-bridge/link/rsu-link.js";
import { createTcpClientTransport, createTcpServer } from "../../firmware-bridge/transport/tcp.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { frameBytes, L } from "./harness.js";

const C2 = { type: "C2", obuId: "01020304", stopType: 1 } as Frame;
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function nextLaneFrame(t: Transport): Promise<Buffer> {
  const d = createDeframer("legacy");
  return new Promise((resolve) => {
    const sub = t.data$.subscribe((chunk) => {
      for (const ev of d.push(chunk, 0)) {
        if (ev.kind === "frame") {
          sub.unsubscribe();
          resolve(ev.frame.raw);
          return;
        }
      }
    });
  });
}

describe("RsuLink over TCP", () => {
  it("answers over the socket, goes down when the RSU drops the connection and reconnects", async () => {
    const srv = await createTcpServer({ port: 0 });
    cleanup.push(() => srv.close());
    const transport = createTcpClientTransport({ host: "127.0.0.1", port: srv.address.port });
    const link = new RsuLink({
      transport,
      dialect: DEFAULT_LEGACY_DIALECT,
      options: { reconnect: { initialDelayMs: 20, maxDelayMs: 50, jitter: 0 } },
    });
    cleanup.push(() => link.stop());
    link.incoming$.subscribe((f: IncomingFrame) => void f.ack());

    const first = firstValueFrom(srv.connections$);
    await link.start();
    expect(link.state.status).toBe("up");
    const rsu1 = await first;
    const ack1 = nextLaneFrame(rsu1);
    await rsu1.write(frameBytes("legacy", 0x18, L.b2));
    expect((await ack1).toString("hex")).toBe("ffff8181ff");

    const second = firstValueFrom(srv.connections$);
    const down = firstValueFrom(link.state$.pipe(filter((s) => s.status === "down")));
    await rsu1.close();
    expect((await down).error?.code).toBe(ErrorCodes.PortDisconnected);
    const rsu2 = await second;
    await link.waitUp({ timeoutMs: 2000 });
    expect(link.counters.reconnects).toBe(1);
    const ack2 = nextLaneFrame(rsu2);
    await rsu2.write(frameBytes("legacy", 0x28, L.b2Other));
    expect((await ack2).toString("hex")).toBe("ffff8282ff");
  });
  it("closes a connection the RSU keeps open but silent (half-open) at the watchdog, and connects again", async () => {
    const srv = await createTcpServer({ port: 0 });
    cleanup.push(() => srv.close());
    const transport = createTcpClientTransport({
      host: "127.0.0.1",
      port: srv.address.port,
      keepAliveMs: 1000,
    });
    const link = new RsuLink({
      transport,
      dialect: DEFAULT_LEGACY_DIALECT,
      options: { heartbeatPeriodMs: 100, missedHeartbeats: 1, reconnect: { initialDelayMs: 20, jitter: 0 } },
    });
    cleanup.push(() => link.stop());
    link.incoming$.subscribe((f: IncomingFrame) => void f.reply(C2).catch(() => undefined));
    // The RSU side: the first connection stays open and silent (the half-open one); on every later one
    // the RSU sends a B2 at once and reports the lane's reply.
    const connections: Transport[] = [];
    const replies = new Subject<string>();
    srv.connections$.subscribe((c) => {
      connections.push(c);
      if (connections.length === 1) return;
      void nextLaneFrame(c).then((raw) => replies.next(raw.toString("hex")));
      void c.write(frameBytes("legacy", 0x18, L.b2)).catch(() => undefined);
    });
    const firstReply = firstValueFrom(replies);
    await link.start();
    expect(await firstReply).toBe(encodeLegacy(0x81, Buffer.from("c20102030401", "hex")).toString("hex"));
    // The lane closed the silent connection itself (the RSU side never wrote to it nor closed it).
    const first = connections[0] as Transport;
    const ended = await firstValueFrom(first.state$.pipe(filter((st) => st.status !== "open")));
    expect(ended.status).toBe("disconnected");
    expect(link.counters.watchdogTrips).toBeGreaterThanOrEqual(1);
    expect(link.counters.reconnects).toBeGreaterThanOrEqual(1);
  });

  it("refuses a keep-alive delay the kernel would ignore, naming the field", () => {
    expect(() => createTcpClientTransport({ host: "127.0.0.1", port: 1, keepAliveMs: 500 })).toThrow(
      /keepAliveMs must be 1000\.\.600000, got 500/,
    );
  });
});
