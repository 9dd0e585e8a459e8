import { describe, expect, it } from "vitest";
import { Backoff } from "../../src/uplink/backoff.js";
import { CircuitBreaker } from "../../src/uplink/circuit-breaker.js";

describe("Backoff", () => {
  it("doubles up to the cap, with jitter taking off at most the jitter fraction", () => {
    const noJitter = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5 }, () => 0);
    expect(Array.from({ length: 6 }, () => noJitter.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    const fullJitter = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5 }, () => 1);
    expect(Array.from({ length: 5 }, () => fullJitter.next())).toEqual([50, 100, 200, 400, 500]);
    noJitter.reset();
    expect(noJitter.next()).toBe(100);
  });
});

describe("CircuitBreaker", () => {
  it("opens after N consecutive failures, allows one probe after the cool-down, closes on its success", () => {
    let t = 0;
    const b = new CircuitBreaker({ failureThreshold: 3, coolDownMs: 1000 }, () => t);
    for (let i = 0; i < 2; i++) {
      expect(b.tryAcquire()).toBe(true);
      b.onFailure();
    }
    expect(b.state).toBe("closed");
    b.onSuccess(); // a success in between resets the count
    for (let i = 0; i < 3; i++) {
      expect(b.tryAcquire()).toBe(true);
      b.onFailure();
    }
    expect(b.state).toBe("open");
    expect(b.tryAcquire()).toBe(false);
    t = 999;
    expect(b.msUntilProbe()).toBe(1);
    expect(b.tryAcquire()).toBe(false);
    t = 1000;
    expect(b.state).toBe("half-open");
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false); // only one probe in flight
    b.onFailure(); // the probe failed: open for another cool-down
    expect(b.state).toBe("open");
    expect(b.opens).toBe(2);
    t = 2000;
    expect(b.tryAcquire()).toBe(true);
    b.onSuccess();
    expect(b.state).toBe("closed");
    expect(b.consecutiveFailures).toBe(0);
  });
});

describe("CircuitBreaker, failures per kind of request", () => {
  it("another kind's success does not start a kind's count again; the probe's success starts every count", () => {
    let t = 0;
    const b = new CircuitBreaker({ failureThreshold: 3, coolDownMs: 1000 }, () => t);
    for (let i = 0; i < 2; i++) {
      b.tryAcquire();
      b.onFailure("upload");
      b.tryAcquire();
      b.onSuccess("heartbeat"); // the station answers heartbeats while every upload fails
    }
    expect(b.state).toBe("closed");
    expect(b.consecutiveFailures).toBe(2);
    b.tryAcquire();
    b.onFailure("heartbeat");
    expect(b.state).toBe("closed"); // one heartbeat failed, two uploads: no kind at 3
    b.tryAcquire();
    b.onFailure("upload");
    expect(b.state).toBe("open");
    t = 1000;
    expect(b.tryAcquire()).toBe(true);
    b.onSuccess("heartbeat"); // the probe answered: closed, every count from 0
    expect(b.state).toBe("closed");
    expect(b.consecutiveFailures).toBe(0);
    b.onFailure("upload");
    expect(b.state).toBe("closed");
  });

  // review 2 (session 38): 5 failed heartbeats opened the uplink's breaker while every upload was stored
  it("only the kinds opensOn names open it by their count; a failed probe of another kind opens it again", () => {
    let t = 0;
    const b = new CircuitBreaker(
      { failureThreshold: 3, coolDownMs: 1000 },
      () => t,
      (k) => k === "upload",
    );
    for (let i = 0; i < 10; i++) {
      b.tryAcquire();
      b.onFailure("heartbeat");
    }
    expect([b.state, b.consecutiveFailures, b.opens]).toEqual(["closed", 10, 0]);
    for (let i = 0; i < 3; i++) {
      b.tryAcquire();
      b.onFailure("upload");
    }
    expect(b.state).toBe("open");
    t = 1000;
    expect(b.tryAcquire()).toBe(true);
    b.onFailure("heartbeat"); // the probe
    expect([b.state, b.opens]).toEqual(["open", 2]);
  });
});

describe("CircuitBreaker.release", () => {
  it("an unused probe slot neither closes nor re-opens the breaker", () => {
    let t = 0;
    const b = new CircuitBreaker({ failureThreshold: 1, coolDownMs: 10 }, () => t);
    b.tryAcquire();
    b.onFailure();
    t = 10;
    expect(b.tryAcquire()).toBe(true);
    b.release();
    expect(b.state).toBe("half-open");
    expect(b.tryAcquire()).toBe(true);
  });
});
