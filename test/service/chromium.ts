/**
 * Debian's Chromium driven by playwright-core (never a browser download). The flags are what this
 * machine needs: no sandbox as root, no GPU, and no background networking (the lane computer and CI
 * have no internet; without these flags Chromium keeps trying Google's hosts).
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { describe } from "vitest";

export const CHROMIUM_PATH = process.env.ETC_LANE_CHROMIUM ?? "/usr/bin/chromium";

export function haveChromium(): boolean {
  return existsSync(CHROMIUM_PATH);
}

let told = false;

/**
 * describe() for the maintenance page's browser tests, the one case where a test is skipped: where
 * there is no Chromium at CHROMIUM_PATH it prints one line saying so (once per test file) and skips `fn`.
 */
export function describeWithChromium(name: string, fn: () => void): void {
  const available = haveChromium();
  if (!available && !told) {
    told = true;
    console.warn(
      `maintenance page browser test SKIPPED: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium; .ci/run installs it)`,
    );
  }
  describe.skipIf(!available)(name, fn);
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
