/** Public API of the status-list cache. */

export { type BundleHeader, type BundleKind, decodeHeader, isValidVersion } from "./bundle.js";
export {
  type ApplyOptions,
  type ApplyResult,
  DEFAULT_COMPACTION,
  DEFAULT_LIMITS,
  LIST_TYPE_NAMES,
  type ListVersions,
  listTypeName,
  type OverlayCompaction,
  openStatusListFromOptions,
  type StalenessState,
  type StatusEntry,
  StatusListCache,
  type StatusListInfo,
  type StatusListLimits,
  type StatusListOpenOptions,
  type StatusLookupResult,
} from "./cache.js";
export { type StatusListErrorCode, StatusListErrors } from "./errors.js";
export { parseCardId, parseObuId } from "./ids.js";
export type { Progress } from "./store.js";
