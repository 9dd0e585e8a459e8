/** The lane software's version: `etc-lane --version`, the heartbeat's `appVersion`, the `lane.start` entry. Kept equal to package.json's (test/config/version.test.ts). */
export const APP_VERSION = "0.1.0";
