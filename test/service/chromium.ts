/**
 * Debian's Chromium driven by playwright-core (never a browser download). The flags are what this
 * machine needs: no sandbox as root, no GPU, and no background networking (the lane computer and CI
 * have no internet; without these flags Chromium keeps trying Google's hosts).
 */
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe } from "vitest";
import { type Rig, startRig } from "./harness.js";

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

/**
 * Inside a describeWithChromium: a fake lane's service (startRig) and a page of a headless Chromium, made
 * before the tests (`use` gets them) and closed after them.
 */
export function rigAndPage(use: (rig: Rig, page: Page) => void): void {
  let rig: Rig | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    rig = await startRig();
    browser = await launchChromium();
    use(rig, await browser.newPage());
  });
  afterAll(async () => {
    await browser?.close();
    await rig?.close();
  });
}
