/**
 * The sign-in form's limits (src/service/login-guard.ts through POST /login): 5 wrong tokens from an
 * address within a minute, then 429 until the minute has passed; refused sign-ins logged at most once a
 * minute, with their count. The service's clock is the test's.
 */
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { LoginGuard } from "../../src/service/login-guard.js";
import { type Rig, startRig } from "./harness.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const TOKEN = "s3cret-token-0123456789";

function capture(): { logger: Logger; warns: { obj: object | string; msg: string | undefined }[] } {
  const warns: { obj: object | string; msg: string | undefined }[] = [];
  const logger: Logger = {
    ...silentLogger,
    warn: (obj, msg) => warns.push({ obj, msg }),
    child: () => logger,
  };
  return { logger, warns };
}

describe("POST /login limits", () => {
  it("after 5 wrong tokens in a minute answers 429 (the right token too) until the minute has passed; logs once a minute with a count", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-login-"));
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, `${TOKEN}\n`);
    chmodSync(tokenFile, 0o600);
    let t = Date.UTC(2026, 10, 26);
    const { logger, warns } = capture();
    rig = await startRig({ tokenFile }, false, { now: () => t, logger });
    const url = new URL("/login", rig.service.url);
    const login = async (token: string) => {
      const res = await fetch(url, {
        method: "POST",
        body: new URLSearchParams({ token }),
        redirect: "manual",
      });
      await res.text();
      return { status: res.status, retryAfter: res.headers.get("retry-after") };
    };
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      t += 1000;
      statuses.push((await login(`guess-${i}`)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    expect(await login("guess-5")).toEqual({ status: 429, retryAfter: "56" });
    expect((await login(TOKEN)).status).toBe(429);
    const refusalLines = () => warns.filter((w) => /refused sign-in/.test(w.msg ?? ""));
    expect(refusalLines().map((w) => (w.obj as { refused: number }).refused)).toEqual([1]);

    t += 56_000; // the minute from the first wrong token has passed
    expect((await login(TOKEN)).status).toBe(303);
    expect((await login("guess-6")).status).toBe(401);
    // 4 wrong + 2 too many since the first line, and this one
    expect(refusalLines().map((w) => (w.obj as { refused: number }).refused)).toEqual([1, 7]);
    expect(refusalLines()[1]?.obj).toMatchObject({ from: [expect.stringMatching(/127\.0\.0\.1/)] });
  });

  it("counts each address on its own and forgets an address once its minute has passed", () => {
    let t = 0;
    const g = new LoginGuard({ now: () => t, maxFailures: 2, windowMs: 60_000, maxAddresses: 2 });
    g.failed("a");
    g.failed("a");
    expect(g.waitMs("a")).toBe(60_000);
    expect(g.waitMs("b")).toBe(0);
    g.failed("b");
    g.failed("c"); // over maxAddresses: the oldest ("a") is forgotten
    expect(g.waitMs("a")).toBe(0);
    t = 60_000;
    expect(g.waitMs("b")).toBe(0);
  });
});
