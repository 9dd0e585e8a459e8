export * from "./errors.js";
export * from "./journal.js";
export * from "./trade-id.js";
export * from "./types.js";
