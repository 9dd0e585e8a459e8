/**
 * The RSU port's dialect as a capture's interface description records it (docs/capture.md, "Layout"):
 * the settings that change how the port's frames are laid out (C6 Station, B4 LastStation, national B4
 * EF04, national B2 AntennaID) or how their 4-byte times are read (time base, the 0019 record's card
 * time base, UTC offset), as `station-length=40 last-station-length=43 ef04=0 b2-antenna-id=0
 * time-base=local-as-utc card-time-base=local-as-utc utc-offset=480`.
 * The lane writes them (src/capture/wire-capture.ts); `etc-lane decode --capture` and `etc-sim replay`
 * read them back, so a capture is read with the dialect the lane spoke.
 */
import type { Dialect } from "../frames/dialect.js";

/** The dialect settings a capture records: each one the description names. */
export type RecordedDialect = Partial<
  Pick<
    Dialect,
    | "stationLength"
    | "lastStationLength"
    | "b4Ef04"
    | "b2AntennaId"
    | "timeBase"
    | "cardTimeBase"
    | "utcOffsetMinutes"
  >
>;

/** `d`'s recorded settings as description terms. */
export function dialectTerms(d: Dialect): string {
  return [
    `station-length=${d.stationLength}`,
    `last-station-length=${d.lastStationLength}`,
    `ef04=${d.b4Ef04 ? 1 : 0}`,
    `b2-antenna-id=${d.b2AntennaId ? 1 : 0}`,
    `time-base=${d.timeBase}`,
    `card-time-base=${d.cardTimeBase}`,
    `utc-offset=${d.utcOffsetMinutes}`,
  ].join(" ");
}

const term = (description: string, name: string, value: string): string | undefined =>
  new RegExp(`(?:^|\\s)${name}=(${value})(?:\\s|$)`).exec(description)?.[1];

/**
 * The settings `description` records; a term that is absent (a capture written before the lane recorded
 * it) or holds a value no dialect has is left out, so the variant's default applies to it (but for an absent
 * `card-time-base=`, which src/cli/dialect-options.ts capturePortDialect reads as the port's time base).
 */
export function dialectFromTerms(description: string): RecordedDialect {
  const station = term(description, "station-length", "36|40");
  const last = term(description, "last-station-length", "39|43");
  const ef04 = term(description, "ef04", "0|1");
  const antenna = term(description, "b2-antenna-id", "0|1");
  const timeBase = term(description, "time-base", "utc|local-as-utc");
  const cardTimeBase = term(description, "card-time-base", "utc|local-as-utc");
  const offset = term(description, "utc-offset", "-?\\d{1,3}");
  const minutes = offset === undefined ? undefined : Number(offset);
  return {
    ...(station !== undefined ? { stationLength: Number(station) as 36 | 40 } : {}),
    ...(last !== undefined ? { lastStationLength: Number(last) as 39 | 43 } : {}),
    ...(ef04 !== undefined ? { b4Ef04: ef04 === "1" } : {}),
    ...(antenna !== undefined ? { b2AntennaId: antenna === "1" } : {}),
    ...(timeBase !== undefined ? { timeBase: timeBase as Dialect["timeBase"] } : {}),
    ...(cardTimeBase !== undefined ? { cardTimeBase: cardTimeBase as Dialect["cardTimeBase"] } : {}),
    ...(minutes !== undefined && minutes >= -720 && minutes <= 840 ? { utcOffsetMinutes: minutes } : {}),
  };
}
