/** Public API of the status-list cache. */

export { type ListChange, listChangeOf } from "./apply-change.js";
export { type BundleHeader, type BundleKind, decodeHeader, isValidVersion } from "./bundle.js";
export { openStatusListFromOptions, StatusListCache, type StatusListOpenOptions } from "./cache.js";
export { type StatusListErrorCode, StatusListErrors } from "./errors.js";
export { statusListTuning } from "./from-config.js";
export { parseCardId, parseObuId } from "./ids.js";
export {
  type ApplyOptions,
  type ApplyResult,
  DEFAULT_COMPACTION,
  DEFAULT_LIMITS,
  LIST_TYPE_NAMES,
  type ListVersions,
  type LookupFailure,
  listTypeName,
  type OverlayCompaction,
  type Progress,
  type StalenessState,
  type StatusEntry,
  type StatusListHealth,
  type StatusListHealthState,
  type StatusListInfo,
  type StatusListLimits,
  type StatusLookupResult,
} from "./types.js";
