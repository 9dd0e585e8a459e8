export * from "./control/client.js";
export * from "./control/protocol.js";
export * from "./lane-view.js";
export * from "./operator-audit.js";
export * from "./service.js";
