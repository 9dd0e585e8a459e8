/** PBOC e-purse crypto, the card key model and lane-side TAC verification. */
export * from "./errors.js";
export * from "./keys.js";
export * from "./pboc.js";
export * from "./tac-verify.js";
