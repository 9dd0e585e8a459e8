export * from "./answer-cache.js";
export * from "./frame-channel.js";
export * from "./link-supervisor.js";
export * from "./options.js";
export * from "./rsu-link.js";
