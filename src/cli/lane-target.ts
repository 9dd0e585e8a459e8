/**
 * How the service's commands (`status`, `lane`, `journal`) find the lane, all in this one place:
 *   1. `--config FILE` (the file `etc-lane run` uses): its dataDir, unless `--data-dir` overrides it;
 *   2. `--data-dir DIR`;
 *   3. `ETC_LANE_CONFIG` (a config file), then `ETC_LANE_DATA_DIR`;
 *   4. `/etc/etc-lane/lane.yaml` if it exists.
 * The audit engineer's shared helper (src/cli/lane-locate.ts) has the same names and shapes; when it lands
 * this file becomes `export * from "./lane-locate.js";`.
 */
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { loadLaneConfig } from "../config/load.js";
import type { LaneConfig } from "../config/schema.js";
import { UsageError } from "./run-cli.js";

export const DEFAULT_LANE_CONFIG = "/etc/etc-lane/lane.yaml";

export interface LaneLocationOptions {
  config?: string;
  dataDir?: string;
}

export interface LaneLocation {
  dataDir: string;
  configPath: string | null;
  config: LaneConfig | null;
  /** how the lane was found, for messages */
  how: string;
}

export function addLaneOptions(cmd: Command): Command {
  return cmd
    .option(
      "--config <file>",
      "the lane's config file (the one `etc-lane run` uses); default $ETC_LANE_CONFIG or /etc/etc-lane/lane.yaml",
    )
    .option(
      "--data-dir <dir>",
      "the lane's data directory (instead of, or overriding, the config's dataDir)",
    );
}

export function locateLane(
  o: LaneLocationOptions,
  env: NodeJS.ProcessEnv = process.env,
  defaultConfig: string = DEFAULT_LANE_CONFIG,
): LaneLocation {
  const fromConfig = (path: string, how: string): LaneLocation => {
    const config = loadLaneConfig(path);
    return { dataDir: o.dataDir ?? config.dataDir, configPath: path, config, how };
  };
  if (o.config !== undefined) return fromConfig(o.config, `--config ${o.config}`);
  if (o.dataDir !== undefined)
    return { dataDir: o.dataDir, configPath: null, config: null, how: `--data-dir ${o.dataDir}` };
  const envConfig = env.ETC_LANE_CONFIG;
  if (envConfig) return fromConfig(envConfig, `ETC_LANE_CONFIG=${envConfig}`);
  const envDir = env.ETC_LANE_DATA_DIR;
  if (envDir) return { dataDir: envDir, configPath: null, config: null, how: `ETC_LANE_DATA_DIR=${envDir}` };
  if (existsSync(defaultConfig)) return fromConfig(defaultConfig, defaultConfig);
  throw new UsageError(
    "which lane? give --config FILE (the file the lane runs with) or --data-dir DIR, or set ETC_LANE_CONFIG; " +
      `${defaultConfig} does not exist`,
  );
}
