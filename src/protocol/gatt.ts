/** Clause 8 GATT layout of the BSLD service. */
export const BSLD_SERVICE_UUID = '5a4c0001-8d2b-4b8e-9c1f-1e2d3c4b5a60';
/** Read: 16 bytes, new per connection. */
export const CHALLENGE_CHAR_UUID = '5a4c0002-8d2b-4b8e-9c1f-1e2d3c4b5a60';
/** Write with response: 16-byte frames gateway → lock. */
export const COMMAND_CHAR_UUID = '5a4c0003-8d2b-4b8e-9c1f-1e2d3c4b5a60';
/** Notify: 16-byte frames lock → gateway. */
export const RESPONSE_CHAR_UUID = '5a4c0004-8d2b-4b8e-9c1f-1e2d3c4b5a60';
/** Read: model string and firmware version, as UTF-8 `model;major.minor`. */
export const INFO_CHAR_UUID = '5a4c0005-8d2b-4b8e-9c1f-1e2d3c4b5a60';

/** Lock timing rules of the profile, in milliseconds. */
export const LockTiming = {
  /** A connection with no valid first frame within this time ends. */
  firstFrameMs: 5_000,
  /** A stage-b connection ends this long after its first Table 5. */
  sessionMs: 60_000,
  /** Pairing mode lasts this long after the button is pressed. */
  pairingMs: 60_000,
  /** Backoff after connections without a valid frame grows up to this. */
  maxBackoffMs: 30_000,
} as const;
