/** The files a demo test runs on (sim/demo/demo.ts runDemo's `config` and `scenario`). */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { ROOT } from "../integration/harness.js";

/**
 * Writes into `dir` config/lane.example.yaml as `edit` changes it (its tariff config/tariff.example.yaml), as
 * lane.yaml, and `scenario` as scenario.yaml; returns their paths.
 */
export function writeDemoFiles(
  dir: string,
  edit: (config: ReturnType<typeof parse>) => void,
  scenario: Record<string, unknown>,
): { config: string; scenario: string } {
  const config = parse(readFileSync(join(ROOT, "config/lane.example.yaml"), "utf8"));
  edit(config);
  config.tariff = join(ROOT, "config/tariff.example.yaml");
  const files = { config: join(dir, "lane.yaml"), scenario: join(dir, "scenario.yaml") };
  writeFileSync(files.config, stringify(config));
  writeFileSync(files.scenario, stringify(scenario));
  return files;
}
