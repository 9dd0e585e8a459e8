/** Station-side status-list tools: signed bundle building, synthetic lists, the demo list. */
export {
  BundleFileWriter,
  type BundleSpec,
  buildBundle,
  type ListRow,
  parseListCsv,
  parseListType,
  rowToRecord,
  TEST_PRIVATE_KEY_PATH,
  TEST_PUBLIC_KEY_PATH,
  versionAt,
} from "./bundle-builder.js";
export {
  type DemoList,
  demoStatusList,
  type GenerateOptions,
  type GenerateResult,
  generateBundleFile,
  generateCsv,
  syntheticRecords,
} from "./generate.js";
