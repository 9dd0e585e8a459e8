/** Public API of the status-list cache. */
export {
  type ApplyOptions,
  type ApplyResult,
  DEFAULT_LIMITS,
  LIST_TYPE_NAMES,
  type ListVersions,
  listTypeName,
  openStatusListFromOptions,
  type StalenessState,
  type StatusEntry,
  StatusListCache,
  type StatusListInfo,
  type StatusListLimits,
  type StatusListOpenOptions,
  type StatusLookupResult,
} from "./cache.js";
export { StatusListErrors, type StatusListErrorCode } from "./errors.js";
export type { Progress } from "./store.js";
export { type BundleHeader, type BundleKind, decodeHeader, isValidVersion } from "./bundle.js";
export { parseCardId, parseObuId } from "./ids.js";
