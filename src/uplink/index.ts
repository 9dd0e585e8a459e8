export * from "./backoff.js";
export * from "./circuit-breaker.js";
export * from "./station-client.js";
export * from "./uplink.js";
