/**
 * The in-process pseudo-terminal (firmware-bridge/transport/pty.ts) where node-pty cannot be loaded (npm left
 * it out: its build needs python3, make and a C++ compiler, README.md): asking for it fails with an error
 * that says how to get it, naming that toolchain, or the socat fallback. node-pty is made unloadable here by
 * refusing to resolve it in Node's module loader, which pty.ts's createRequire goes through.
 */
import Module from "node:module";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { ErrorCodes } from "../../firmware-bridge/errors.js";

type Resolve = (this: unknown, request: string, ...rest: unknown[]) => string;
const loader = Module as unknown as { _resolveFilename: Resolve };
const resolve = loader._resolveFilename;

beforeEach(() => {
  loader._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    if (request === "node-pty")
      throw Object.assign(new Error("Cannot find module 'node-pty'"), { code: "MODULE_NOT_FOUND" });
    return resolve.call(this, request, ...rest);
  };
  // a fresh pty.ts: it keeps what loading node-pty gave once
  vi.resetModules();
});
afterEach(() => {
  loader._resolveFilename = resolve;
});

it("without node-pty, openPty says to run npm install with python3, make and a C++ compiler, or to install socat", async () => {
  const { nodePtyAvailable, openPty } = await import("../../firmware-bridge/transport/pty.js");
  expect(nodePtyAvailable()).toBe(false);
  await expect(openPty({ backend: "node-pty" })).rejects.toMatchObject({
    code: ErrorCodes.PortOpenFailed,
    message:
      "no pseudo-terminal: node-pty could not be loaded (Cannot find module 'node-pty'); run `npm install` to " +
      "build it (it needs python3, make and a C++ compiler: README.md), or install socat (apt-get install " +
      "socat) to use it instead",
  });
});
