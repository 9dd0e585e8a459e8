/** RsuLink over real TCP sockets (real timers, short backoff): the RSU side drops the connection. */
import { filter, firstValueFrom } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCodes } from "../../firmware-bridge/errors.js";
import { DEFAULT_LEGACY_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { createDeframer } from "../../firmware-bridge/framing/index.js";
import { type IncomingFrame, RsuLink } from "../../firmware-bridge/link/rsu-link.js";
import { createTcpClientTransport, createTcpServer } from "../../firmware-bridge/transport/tcp.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { frameBytes, L } from "./harness.js";

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
});
