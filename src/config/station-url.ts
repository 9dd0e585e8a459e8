/**
 * The ports fetch refuses to connect to: the "bad port" list of the WHATWG Fetch Standard, section "Port
 * blocking" (Node's fetch, which the station client uses, src/uplink/station-client.ts, answers every
 * request to one with "bad port"). A `station.url` with one of them is refused in the lane config
 * (./schema.ts), naming the field, rather than giving E611 "bad port" at every request for as long as the
 * lane runs. The standard's list with 4190 and 6679, the ports Node 20's fetch refuses
 * (test/config/field-messages.test.ts asks fetch about each); a port a later Node adds is reported at
 * run time by the client ("bad port: fetch refuses to connect to port N ...").
 */
export const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104,
  109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515,
  526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049,
  3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** The port `url` connects to (its scheme's default when it names none), or null when it is no http(s) URL. */
export function urlPort(url: string): number | null {
  if (!URL.canParse(url)) return null;
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") return null;
  return u.port !== "" ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
}
