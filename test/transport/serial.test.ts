import { filter, firstValueFrom } from "rxjs";
import { SerialPortMock } from "serialport";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { createSerialTransport, mapSerialOpenError } from "../../firmware-bridge/transport/serial.js";

// serialport re-exports the mock binding with its types (NodeNext cannot see binding-mock's own).
const MockBinding = SerialPortMock.binding;

afterEach(() => MockBinding.reset());

describe("serial transport on the mock binding", () => {
  it("opens, reads chunks and resolves writes after drain", async () => {
    MockBinding.createPort("/dev/ttyMOCK0", { record: true });
    const t = createSerialTransport({ path: "/dev/ttyMOCK0", binding: MockBinding });
    expect(t.name).toBe("serial:/dev/ttyMOCK0");
    await t.open();
    expect(t.status).toBe("open");
    const got = firstValueFrom(t.data$);
    // biome-ignore lint/suspicious/noExplicitAny: reach the binding the test double exposes
    const port = (t as any).port.port;
    port.emitData(Buffer.from([0xff, 0xff, 0x08]));
    expect((await got).toString("hex")).toBe("ffff08");
    await t.write(Buffer.from([1, 2, 3]));
    expect(port.recording.toString("hex")).toBe("010203");
    await t.close();
    expect(t.status).toBe("closed");
    // refused before a byte was written, and marked so (firmware-bridge/errors.ts NOTHING_WRITTEN)
    await expect(t.write(Buffer.from([1]))).rejects.toMatchObject({
      code: ErrorCodes.PortClosed,
      details: { nothingWritten: true },
    });
  });

  it("a port locked by another opener gives PortLocked naming the port and how to find the holder", async () => {
    MockBinding.createPort("/dev/ttyMOCK1");
    const first = createSerialTransport({ path: "/dev/ttyMOCK1", binding: MockBinding });
    await first.open();
    const second = createSerialTransport({ path: "/dev/ttyMOCK1", binding: MockBinding });
    const err = await second.open().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EtcError);
    expect((err as EtcError).code).toBe(ErrorCodes.PortLocked);
    expect((err as EtcError).message).toContain("/dev/ttyMOCK1");
    expect((err as EtcError).message).toContain("another process");
    expect((err as EtcError).message).toContain("fuser -v /dev/ttyMOCK1");
    expect(second.status).toBe("closed");
    await first.close();
  });

  it("a missing port gives PortNotFound suggesting /dev/serial/by-id", async () => {
    const t = createSerialTransport({ path: "/dev/ttyMOCK9", binding: MockBinding });
    await expect(t.open()).rejects.toMatchObject({ code: ErrorCodes.PortNotFound });
    await expect(t.open()).rejects.toThrow(/\/dev\/ttyMOCK9.*\/dev\/serial\/by-id/);
  });

  it("maps the native binding's messages", () => {
    const locked = mapSerialOpenError(
      "/dev/ttyUSB0",
      new Error("Error Resource temporarily unavailable Cannot lock port"),
    );
    expect(locked.code).toBe(ErrorCodes.PortLocked);
    expect(locked.message).toContain("lsof /dev/ttyUSB0");
    const busy = mapSerialOpenError("/dev/ttyUSB0", Object.assign(new Error("busy"), { code: "EBUSY" }));
    expect(busy.code).toBe(ErrorCodes.PortLocked);
    const missing = mapSerialOpenError(
      "/dev/ttyUSB0",
      new Error("Error: No such file or directory, cannot open /dev/ttyUSB0"),
    );
    expect(missing.code).toBe(ErrorCodes.PortNotFound);
    const other = mapSerialOpenError(
      "/dev/ttyUSB0",
      new Error("Error: Permission denied, cannot open /dev/ttyUSB0"),
    );
    expect(other.code).toBe(ErrorCodes.PortOpenFailed);
    expect(other.message).toContain("/dev/ttyUSB0");
  });

  it("rejects a bad configuration with the field name", () => {
    expect(() => createSerialTransport({ path: "/dev/x", baudRate: 7 })).toThrow(/baudRate/);
  });

  it("state$ reports opening then open", async () => {
    MockBinding.createPort("/dev/ttyMOCK2");
    const t = createSerialTransport({ path: "/dev/ttyMOCK2", binding: MockBinding });
    const seen: string[] = [];
    t.state$.subscribe((s) => seen.push(s.status));
    const opened = firstValueFrom(t.state$.pipe(filter((s) => s.status === "open")));
    await t.open();
    await opened;
    await t.close();
    expect(seen).toEqual(["closed", "opening", "open", "closed"]);
  });
});
