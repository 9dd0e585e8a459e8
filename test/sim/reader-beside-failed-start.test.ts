/**
 * `etc-sim rsu --reader-pty` (sim/cli/reader-beside.ts startReaderBeside): a reader that fails to start
 * closes the pty it was given before the error goes up; an open pty master would keep the process alive
 * after the command's error.
 */
import { afterEach, expect, it, vi } from "vitest";

const closed = vi.fn(async () => {});
vi.mock("../../firmware-bridge/transport/pty.js", async (orig) => ({
  ...(await orig<typeof import("../../firmware-bridge/transport/pty.js")>()),
  openPty: vi.fn(async () => ({ lanePath: "/dev/pts/test", device: {}, close: closed })),
}));
vi.mock("../../sim/reader/reader-simulator.js", async (orig) => ({
  ...(await orig<typeof import("../../sim/reader/reader-simulator.js")>()),
  createReaderSimulator: vi.fn(() => ({
    events$: { subscribe: () => ({ unsubscribe() {} }) },
    start: () => Promise.reject(new Error("reader port would not open")),
    stop: async () => {},
  })),
}));

const { startReaderBeside } = await import("../../sim/cli/reader-beside.js");
const { CardStore } = await import("../../sim/card/card-store.js");
const { silentLogger } = await import("../../firmware-bridge/log.js");

afterEach(() => closed.mockClear());

it("a reader that fails to start closes its pty, and the error goes up as it was", async () => {
  const store = new CardStore();
  try {
    await expect(
      startReaderBeside({}, store, { addVehicle: vi.fn() } as never, silentLogger, () => {}),
    ).rejects.toThrow("reader port would not open");
    expect(closed).toHaveBeenCalledTimes(1);
  } finally {
    store.close();
  }
});
