/**
 * Where a simulated device waits for the lane: a serial port, a pseudo-terminal made here, or a TCP
 * listener (one lane at a time). Shared by `etc-sim rsu` and `etc-sim replay`; the first stdout line
 * of both says where the lane connects.
 */
import { Subject } from "rxjs";
import { EtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { openPty } from "../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import { createTcpServer, type TcpServer } from "../../firmware-bridge/transport/tcp.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { UsageError } from "../../src/cli/run-cli.js";
import { SwitchTransport } from "../rsu/switch-transport.js";
import { portOption } from "./options.js";

export interface EndpointOptions {
  port?: string;
  pty?: boolean;
  tcp?: string;
}

export interface Endpoint {
  transport: Transport;
  kind: "pty" | "tcp" | "port";
  /** the first stdout line: `lane-port: /dev/pts/N`, `tcp: HOST:PORT` or `port: PATH` */
  where: string;
  /**
   * TCP only: `fn` runs now if a lane is connected, then at every lane that connects. A pty or serial
   * port has no such event: the device cannot see the lane open its end.
   */
  whenLaneConnects?(fn: () => void): void;
  /** closes the pty or the listener (the transport is closed by its user) */
  close(): Promise<void>;
}

export async function openEndpoint(o: EndpointOptions, logger: Logger): Promise<Endpoint> {
  const modes = [o.port !== undefined, o.pty === true, o.tcp !== undefined].filter(Boolean).length;
  if (modes !== 1) throw new UsageError("give exactly one of --port PATH, --pty, --tcp HOST:PORT");
  if (o.pty) {
    const pty = await openPty();
    return {
      transport: pty.device,
      kind: "pty",
      where: `lane-port: ${pty.lanePath}`,
      close: () => pty.close(),
    };
  }
  // `--tcp ""` (say `--tcp=$RSU_ADDR` with the variable unset) is a TCP address, a wrong one
  if (o.tcp !== undefined) {
    const m = /^(.+):(\d{1,5})$/.exec(o.tcp);
    if (!m || Number(m[2]) > 65535)
      throw new UsageError(
        `--tcp: expected HOST:PORT with a port in 0..65535 (0: any free port), e.g. 127.0.0.1:21003, got "${o.tcp}"`,
      );
    let server: TcpServer;
    try {
      // "[::1]:21003": the brackets only set the IPv6 address apart from the port
      server = await createTcpServer({
        host: (m[1] as string).replace(/^\[(.*)\]$/, "$1"),
        port: Number(m[2]),
      });
    } catch (e) {
      // the address is not this computer's, or the port is taken: name the option
      if (e instanceof EtcError)
        throw new EtcError(
          e.code,
          `--tcp ${o.tcp}: cannot listen: ${e.message.replace(/^tcp server \S+: /, "")}`,
          e.details,
          { cause: e },
        );
      throw new UsageError(`--tcp ${o.tcp}: cannot listen: ${(e as Error).message}`);
    }
    const sw = new SwitchTransport(`tcp-server:${server.address.host}:${server.address.port}`);
    const connected = new Subject<void>();
    server.connections$.subscribe((c) => {
      // closed (not yet started, or the unplug fault): the RSU has no line, the connection is dropped
      if (!sw.attach(c)) {
        logger.info({ conn: c.name }, "lane connection refused: the RSU's port is closed (unplugged)");
        return;
      }
      logger.info({ conn: c.name }, "lane connected");
      connected.next();
    });
    return {
      transport: sw,
      kind: "tcp",
      whenLaneConnects(fn) {
        if (sw.connected) fn();
        connected.subscribe(fn);
      },
      where: `tcp: ${server.address.host}:${server.address.port}`,
      close: () => server.close(),
    };
  }
  const path = portOption(o.port ?? "");
  return {
    transport: createSerialTransport({ path }),
    kind: "port",
    where: `port: ${path}`,
    close: async () => {},
  };
}
