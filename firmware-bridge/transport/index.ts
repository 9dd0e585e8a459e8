export * from "./pair.js";
export * from "./pty.js";
export * from "./serial.js";
export * from "./tcp.js";
export * from "./types.js";
