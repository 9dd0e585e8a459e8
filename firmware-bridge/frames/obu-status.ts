/**
 * B2 OBUStatus byte 1 bits, as the legacy serial protocol defines them: a set bit is the fault (no card, card
 * error, locked, tampered, battery low) or the alternative (contactless interface, M1 logic-encryption card);
 * bit 6 is reserved. Single-chip OBUs use bits 2-0 only.
 */
export interface ObuStatusBits {
  cardPresent: boolean; // bit 7 = 0
  contactless: boolean; // bit 5
  logicCard: boolean; // bit 4: M1 logic-encryption card rather than CPU
  cardError: boolean; // bit 3
  locked: boolean; // bit 2
  tampered: boolean; // bit 1
  batteryLow: boolean; // bit 0
}

export function decodeObuStatus(b: number): ObuStatusBits {
  return {
    cardPresent: (b & 0x80) === 0,
    contactless: (b & 0x20) !== 0,
    logicCard: (b & 0x10) !== 0,
    cardError: (b & 0x08) !== 0,
    locked: (b & 0x04) !== 0,
    tampered: (b & 0x02) !== 0,
    batteryLow: (b & 0x01) !== 0,
  };
}

export function encodeObuStatus(s: Partial<ObuStatusBits>): number {
  return (
    (s.cardPresent === false ? 0x80 : 0) |
    (s.contactless ? 0x20 : 0) |
    (s.logicCard ? 0x10 : 0) |
    (s.cardError ? 0x08 : 0) |
    (s.locked ? 0x04 : 0) |
    (s.tampered ? 0x02 : 0) |
    (s.batteryLow ? 0x01 : 0)
  );
}
