/** PBOC e-purse crypto, the card key model and TAC verification (`etc-sim tac verify`, tests). */
export * from "./errors.js";
export * from "./keys.js";
export * from "./pboc.js";
export * from "./tac-verify.js";
