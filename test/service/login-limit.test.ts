/**
 * The limits on guessing the token (src/service/login-guard.ts through POST /login, bearer tokens and
 * the sign-in cookie): 5 different wrong tokens from an address within a minute, then 429 until the
 * minute has passed; refusals logged at most once a minute, with their count. The service's clocks (the
 * monotonic one the limits use, the wall clock) are the test's.
 */
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { signInCookieName, signInCookieValue } from "../../src/service/http/token-auth.js";
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
    rig = await startRig({ tokenFile }, false, { monotonicNow: () => t, logger });
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

  it("answers a form over 4096 bytes (UTF-8, not characters) 413, without counting it as a guess", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-login-"));
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, `${TOKEN}\n`);
    chmodSync(tokenFile, 0o600);
    const { logger, warns } = capture();
    rig = await startRig({ tokenFile }, false, { now: () => Date.UTC(2026, 10, 26), logger });
    const url = new URL("/login", rig.service.url);
    const login = async (body: string) => {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
        redirect: "manual",
      });
      return { status: res.status, text: await res.text() };
    };
    // 1406 characters, 4206 bytes
    const wide = `token=${"中".repeat(1400)}`;
    for (const body of [wide, `token=${"x".repeat(4091)}`, `token=${"x".repeat(1 << 20)}`])
      expect(await login(body), `${Buffer.byteLength(body)} bytes`).toEqual({
        status: 413,
        text: "sign-in form larger than 4096 bytes\n",
      });
    // at the limit: read, a wrong token
    expect((await login(`token=${"x".repeat(4090)}`)).status).toBe(401);
    // more oversized forms than wrong guesses allowed: none counted, the right token still signs in
    for (let i = 0; i < 5; i++) expect((await login(`${wide}${i}`)).status).toBe(413);
    expect((await login(`token=${TOKEN}`)).status).toBe(303);
    expect(warns.map((w) => (w.obj as { refused: number }).refused)).toEqual([1]);
  });

  it("counts each address on its own and forgets an address once its minute has passed", () => {
    let t = 0;
    const g = new LoginGuard({ monotonicNow: () => t, maxFailures: 2, windowMs: 60_000, maxAddresses: 2 });
    g.failed("a", "t1");
    g.failed("a", "t2");
    expect(g.waitMs("a")).toBe(60_000);
    expect(g.waitMs("b")).toBe(0);
    g.failed("b", "t1");
    g.failed("c", "t1"); // over maxAddresses: the oldest ("a") is forgotten
    expect(g.waitMs("a")).toBe(0);
    t = 60_000;
    expect(g.waitMs("b")).toBe(0);
  });

  it("counts the same wrong token from an address once in its window", () => {
    let t = 0;
    const g = new LoginGuard({ monotonicNow: () => t, maxFailures: 2, windowMs: 60_000 });
    for (let i = 0; i < 10; i++) g.failed("a", "stale");
    expect(g.waitMs("a")).toBe(0);
    g.failed("a", "guess");
    expect(g.waitMs("a")).toBe(60_000);
    t = 60_000;
    expect(g.waitMs("a")).toBe(0);
  });
});

describe("bearer tokens and the sign-in cookie", () => {
  function tokenFileOf(): string {
    const dir = mkdtempSync(join(tmpdir(), "etc-login-"));
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, `${TOKEN}\n`);
    chmodSync(tokenFile, 0o600);
    return tokenFile;
  }
  function tokenRig(monotonicNow: () => number, logger: Logger): Promise<Rig> {
    return startRig({ tokenFile: tokenFileOf() }, false, { monotonicNow, logger });
  }
  /** `value` as the sign-in cookie of `r`'s service (named after its port) */
  const cookie = (r: Rig, value: string) =>
    `${signInCookieName(Number(new URL(r.service.url).port))}=${value}`;
  const status = async (r: Rig, headers: Record<string, string>) => {
    const res = await r.get("/status", headers);
    await res.text();
    return { status: res.status, retryAfter: res.headers.get("retry-after") };
  };

  // review: a DNS-rebinding page in a browser on the lane computer sends from 127.0.0.1 under its own name;
  // its five wrong tokens locked out every client of 127.0.0.1, the scraper with the right token included
  it("wrong tokens sent under another Host (a rebinding page) do not lock out the same address under the service's own", async () => {
    const t = Date.UTC(2026, 10, 26);
    const r = await tokenRig(() => t, silentLogger);
    rig = r;
    const u = new URL(r.service.url);
    const get = (host: string, token: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request(
          {
            host: u.hostname,
            port: u.port,
            path: "/status",
            headers: { host, authorization: `Bearer ${token}` },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.end();
      });
    const rebound = `rebind.example:${u.port}`;
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push(await get(rebound, `guess-${i}`));
    expect(codes).toEqual([401, 401, 401, 401, 401, 429]);
    expect(await get(rebound, TOKEN)).toBe(429);
    // the same address under the service's own name: not locked out
    expect(await get(u.host, TOKEN)).toBe(200);
    // and a guesser that varies the Host shares one count: no more tries
    expect(await get(`other.example:${u.port}`, "guess-9")).toBe(429);
    // under the service's own name the address has its own 5 (docs/maintenance.md: 10 a minute in all)
    const own: number[] = [];
    for (let i = 10; i < 16; i++) own.push(await get(u.host, `guess-${i}`));
    expect(own).toEqual([401, 401, 401, 401, 401, 429]);
    expect(await get(u.host, TOKEN)).toBe(429);
  });

  it("count in the same limits as the sign-in form: after 5 different wrong tokens, 429 for the minute, the right one too", async () => {
    let t = Date.UTC(2026, 10, 26);
    const { logger, warns } = capture();
    const r = await tokenRig(() => t, logger);
    rig = r;
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await status(r, { authorization: `Bearer guess-${i}` })).status);
    t += 4000;
    codes.push((await status(r, { cookie: cookie(r, "guess-3") })).status);
    codes.push((await status(r, { cookie: cookie(r, "%") })).status);
    expect(codes).toEqual([401, 401, 401, 401, 401]);
    expect(await status(r, { authorization: "Bearer guess-5" })).toEqual({ status: 429, retryAfter: "56" });
    expect((await status(r, { cookie: cookie(r, "guess-6") })).status).toBe(429);
    expect((await status(r, { authorization: `Bearer ${TOKEN}` })).status).toBe(429);
    expect((await status(r, { cookie: cookie(r, signInCookieValue(TOKEN)) })).status).toBe(429);
    const login = await fetch(new URL("/login", r.service.url), {
      method: "POST",
      body: new URLSearchParams({ token: TOKEN }),
      redirect: "manual",
    });
    expect(login.status).toBe(429);
    // a request that presents no token guesses nothing: asked for it as before
    expect((await status(r, {})).status).toBe(401);
    // refusals logged once a minute, with their count
    const lines = warns.filter((w) => /refused sign-in/.test(w.msg ?? ""));
    expect(lines.map((w) => (w.obj as { refused: number }).refused)).toEqual([1]);

    t += 56_000; // the minute from the first wrong token has passed
    expect((await status(r, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    expect((await status(r, { authorization: "Bearer guess-7" })).status).toBe(401);
    expect(warns.map((w) => (w.obj as { refused: number }).refused)).toEqual([1, 10]);
  });

  // review: the minute was measured on the wall clock; stepped back an hour (chrony's makestep, `date -s`) it
  // locked the address out, the right token included, for an hour and a minute and silenced the log lines
  it("a wall clock stepped back does not stretch the minute: 429 for what is left of it, then the right token passes and refusals are logged", async () => {
    let wall = Date.UTC(2026, 10, 26);
    let mono = 5_000;
    const { logger, warns } = capture();
    const r = await startRig({ tokenFile: tokenFileOf() }, false, {
      now: () => wall,
      monotonicNow: () => mono,
      logger,
    });
    rig = r;
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await status(r, { authorization: `Bearer guess-${i}` })).status);
    expect(codes).toEqual([401, 401, 401, 401, 401]);
    wall -= 3_600_000;
    expect(await status(r, { authorization: `Bearer ${TOKEN}` })).toEqual({ status: 429, retryAfter: "60" });
    mono += 60_000; // the minute from the first wrong token has passed
    expect((await status(r, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    expect((await status(r, { authorization: "Bearer guess-5" })).status).toBe(401);
    const lines = warns.filter((w) => /refused sign-in/.test(w.msg ?? ""));
    expect(lines.map((w) => (w.obj as { refused: number }).refused)).toEqual([1, 6]);
  });

  it("a wall clock stepped forward does not end the minute early: the guesser gets no fresh tries", async () => {
    let wall = Date.UTC(2026, 10, 26);
    const { logger } = capture();
    const r = await startRig({ tokenFile: tokenFileOf() }, false, {
      now: () => wall,
      monotonicNow: () => 5_000,
      logger,
    });
    rig = r;
    for (let i = 0; i < 5; i++) await status(r, { authorization: `Bearer guess-${i}` });
    wall += 3_600_000;
    expect(await status(r, { authorization: "Bearer guess-5" })).toEqual({ status: 429, retryAfter: "60" });
    expect((await status(r, { authorization: `Bearer ${TOKEN}` })).status).toBe(429);
  });

  it("the same wrong token again (a stale cookie, a scraper's old token file) counts once: the address is not refused", async () => {
    const t = Date.UTC(2026, 10, 26);
    const { logger } = capture();
    const r = await tokenRig(() => t, logger);
    rig = r;
    const codes = new Set<number>();
    for (let i = 0; i < 20; i++) {
      codes.add((await status(r, { authorization: "Bearer old-token-0123456789" })).status);
      codes.add((await status(r, { cookie: cookie(r, "old-token-9876543210") })).status);
    }
    expect([...codes]).toEqual([401]);
    expect((await status(r, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    expect((await status(r, { cookie: cookie(r, signInCookieValue(TOKEN)) })).status).toBe(200);
  });
});
