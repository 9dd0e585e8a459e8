export * from "./frame-channel.js";
export * from "./options.js";
export * from "./rsu-link.js";
