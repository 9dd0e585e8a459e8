/** The simulated ETC card and PSAM (APDU level) and their builders. */
export * from "./apdu.js";
export * from "./card-files.js";
export * from "./card-spec.js";
export * from "./sim-card.js";
export * from "./sim-psam.js";
export type * from "./types.js";
