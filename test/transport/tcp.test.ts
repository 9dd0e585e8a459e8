import net from "node:net";
import { filter, firstValueFrom } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCodes } from "../../firmware-bridge/errors.js";
import {
  createTcpClientTransport,
  createTcpServer,
  type TcpServer,
} from "../../firmware-bridge/transport/tcp.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function server(): Promise<TcpServer> {
  const s = await createTcpServer({ port: 0 });
  cleanup.push(() => s.close());
  return s;
}

function collect(t: Transport, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let len = 0;
  return new Promise((resolve) => {
    const sub = t.data$.subscribe((c) => {
      parts.push(c);
      len += c.length;
      if (len >= n) {
        sub.unsubscribe();
        resolve(Buffer.concat(parts));
      }
    });
  });
}

describe("tcp transports", () => {
  it("client and accepted connection exchange bytes both ways", async () => {
    const srv = await server();
    const accepted = firstValueFrom(srv.connections$);
    const client = createTcpClientTransport({ host: "127.0.0.1", port: srv.address.port });
    cleanup.push(() => client.close());
    await client.open();
    const peer = await accepted;
    expect(peer.status).toBe("open");
    await expect(peer.open()).resolves.toBeUndefined();
    const big = Buffer.alloc(100_000, 0xfe);
    const atPeer = collect(peer, big.length);
    await client.write(big);
    expect((await atPeer).equals(big)).toBe(true);
    const atClient = collect(client, 3);
    await peer.write(Buffer.from([0xff, 0xff, 0x08]));
    expect((await atClient).toString("hex")).toBe("ffff08");
  });

  it("the far side closing turns the client into disconnected, and it can reconnect", async () => {
    const srv = await server();
    const client = createTcpClientTransport({ host: "127.0.0.1", port: srv.address.port });
    cleanup.push(() => client.close());
    const accepted = firstValueFrom(srv.connections$);
    await client.open();
    const peer = await accepted;
    const lost = firstValueFrom(client.state$.pipe(filter((s) => s.status !== "open")));
    await peer.close();
    const s = await lost;
    expect(s.status).toBe("disconnected");
    expect(s.error?.code).toBe(ErrorCodes.PortDisconnected);
    expect(s.error?.message).toContain(`tcp:127.0.0.1:${srv.address.port}`);
    await expect(peer.open()).rejects.toMatchObject({ code: ErrorCodes.PortClosed });
    await client.open();
    expect(client.status).toBe("open");
  });

  it("a refused connection names the address", async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const client = createTcpClientTransport({ host: "127.0.0.1", port });
    await expect(client.open()).rejects.toMatchObject({ code: ErrorCodes.PortOpenFailed });
    await expect(client.open()).rejects.toThrow(`connection refused: nothing listens on 127.0.0.1:${port}`);
    expect(client.status).toBe("closed");
  });

  it("a listen port already taken reports PortLocked", async () => {
    const srv = await server();
    await expect(createTcpServer({ port: srv.address.port })).rejects.toMatchObject({
      code: ErrorCodes.PortLocked,
    });
  });

  it("validates its options", () => {
    expect(() => createTcpClientTransport({ host: "h", port: 0 })).toThrow(/port/);
    expect(() => createTcpClientTransport({ host: "h", port: 1, connectTimeoutMs: 0 })).toThrow(
      /connectTimeoutMs/,
    );
  });
});
