/**
 * Error codes of the card and PSAM models and the PBOC crypto (the 7xx group). Callers branch on
 * `code` (see firmware-bridge/errors.ts), never on message text.
 */
export const CardErrorCodes = {
  /** A key file is unreadable, malformed, or a key has the wrong length. */
  KeysInvalid: "E701_CARD_KEYS_INVALID",
  /** A key file lacks the "TEST KEYS ONLY" marker and the caller did not explicitly allow that. */
  KeysUnmarked: "E702_CARD_KEYS_UNMARKED",
  /** The algorithm id names an algorithm that is not implemented (SM4, algorithm id 04). */
  AlgorithmUnsupported: "E703_CARD_ALGORITHM_UNSUPPORTED",
  /** A crypto input has the wrong length or format (key, block, BCD time, terminal number). */
  CryptoInput: "E704_CARD_CRYPTO_INPUT",
  /** A card specification (scenario) is invalid. */
  CardSpecInvalid: "E705_CARD_SPEC_INVALID",
  /** The card answered an APDU with a status word other than 9000. */
  CardRefused: "E711_CARD_REFUSED",
  /** Balance < amount, on any card type; INITIALIZE FOR CAPP PURCHASE answered 9401. */
  InsufficientBalance: "E712_CARD_INSUFFICIENT_BALANCE",
  /** The PSAM answered an APDU with a status word other than 9000. */
  PsamRefused: "E713_PSAM_REFUSED",
  /** The PSAM rejected the card's MAC2 (9302): the card debited but did not prove it. */
  Mac2Invalid: "E714_PSAM_MAC2_INVALID",
} as const;

export type CardErrorCode = (typeof CardErrorCodes)[keyof typeof CardErrorCodes];
