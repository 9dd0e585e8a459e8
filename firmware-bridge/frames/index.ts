export * from "./catalogue.js";
export * from "./dialect.js";
export * from "./fields.js";
export * from "./frame-def.js";
export * as legacyFrames from "./legacy-frames.js";
export * as nationalFrames from "./national-frames.js";
export * from "./obu-status.js";
export * from "./records.js";
