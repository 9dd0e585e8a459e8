/**
 * How every maintenance command finds the lane it works on, in this order:
 *   1. `--config FILE`: the file the lane runs with (`etc-lane run --config FILE`), its `dataDir`; with
 *      `--data-dir DIR` too, that data directory instead (the config still supplies the rest: lane id,
 *      time offset, keys);
 *   2. `--data-dir DIR`: that data directory;
 *   3. `ETC_LANE_CONFIG`: a config file, as --config;
 *   4. `ETC_LANE_DATA_DIR`: a data directory, as --data-dir;
 *   5. `/etc/etc-lane/lane.yaml`, if it exists.
 * Otherwise the command stops with a message saying all of this. An empty `--config ""` or `--data-dir ""`
 * (a shell variable that was not set) is refused as a usage error naming the option, not taken as the
 * current directory (an empty ETC_LANE_CONFIG or ETC_LANE_DATA_DIR counts as unset). A config from ETC_LANE_CONFIG or the
 * default path that does not load is refused saying where its path came from. Use `addLaneOptions(cmd)` when
 * declaring a command and `locateLane(opts)` in its action.
 */
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { EtcError } from "../../firmware-bridge/errors.js";
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
  /** the config file used, or null when only a data directory was given */
  configPath: string | null;
  config: LaneConfig | null;
  /** how the lane was found, for messages: "--config lane.yaml", "ETC_LANE_CONFIG=...", ... */
  how: string;
  /** where `dataDir` came from, for messages: "--data-dir", "ETC_LANE_DATA_DIR", "the config's dataDir" */
  dataDirFrom: string;
}

/** Adds `--config FILE` and `--data-dir DIR` to a command. */
export function addLaneOptions(cmd: Command): Command {
  return cmd
    .option(
      "--config <file>",
      "the lane's config file (the one `etc-lane run` uses); without --config or --data-dir: $ETC_LANE_CONFIG, then $ETC_LANE_DATA_DIR, then /etc/etc-lane/lane.yaml",
    )
    .option(
      "--data-dir <dir>",
      "the lane's data directory (instead of, or overriding, the config's dataDir); default as for --config",
    );
}

export function locateLane(
  o: LaneLocationOptions,
  env: NodeJS.ProcessEnv = process.env,
  defaultConfig: string = DEFAULT_LANE_CONFIG,
): LaneLocation {
  for (const [option, value] of [
    ["--config", o.config],
    ["--data-dir", o.dataDir],
  ] as const)
    if (value === "")
      throw new UsageError(
        `${option} is empty: give the lane's ${option === "--config" ? "config file" : "data directory"} ` +
          "(an unset shell variable?), or leave the option out",
      );
  /** `whence`: why this file was read, added to its error (a line of its own) when not given with --config */
  const fromConfig = (path: string, how: string, whence?: string): LaneLocation => {
    let config: LaneConfig;
    try {
      config = loadLaneConfig(path);
    } catch (e) {
      if (whence === undefined || !(e instanceof EtcError)) throw e;
      // a line of its own: appended to the last one, it would read as part of that field's error
      throw new EtcError(e.code, `${e.message}\n${whence}`, e.details, { cause: e });
    }
    return {
      dataDir: o.dataDir ?? config.dataDir,
      configPath: path,
      config,
      how,
      dataDirFrom: o.dataDir !== undefined ? "--data-dir" : "the config's dataDir",
    };
  };
  if (o.config !== undefined) return fromConfig(o.config, `--config ${o.config}`);
  if (o.dataDir !== undefined)
    return {
      dataDir: o.dataDir,
      configPath: null,
      config: null,
      how: `--data-dir ${o.dataDir}`,
      dataDirFrom: "--data-dir",
    };
  const envConfig = env.ETC_LANE_CONFIG;
  if (envConfig)
    return fromConfig(
      envConfig,
      `ETC_LANE_CONFIG=${envConfig}`,
      "this config file is named by ETC_LANE_CONFIG in the environment (neither --config nor --data-dir was given): fix or unset it, or give --config FILE or --data-dir DIR",
    );
  const envDir = env.ETC_LANE_DATA_DIR;
  if (envDir)
    return {
      dataDir: envDir,
      configPath: null,
      config: null,
      how: `ETC_LANE_DATA_DIR=${envDir}`,
      dataDirFrom: "ETC_LANE_DATA_DIR",
    };
  if (existsSync(defaultConfig))
    return fromConfig(
      defaultConfig,
      defaultConfig,
      "this is the default config file (none of --config, --data-dir, ETC_LANE_CONFIG, ETC_LANE_DATA_DIR was given): fix it, or give --config FILE or --data-dir DIR",
    );
  throw new UsageError(
    "which lane? give --config FILE (the file the lane runs with) or --data-dir DIR, or set ETC_LANE_CONFIG " +
      `(a config file) or ETC_LANE_DATA_DIR (a data directory); ${defaultConfig} does not exist`,
  );
}
