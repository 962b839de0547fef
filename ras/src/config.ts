/**
 * Durations and limits. The profile fixes some (session 60 s, operation expiry 30 s, pending
 * registration 5 min, long poll ≤ 30 s, body 64 KiB); the rest are this RAS's choices.
 */
export const Durations = {
  /** Profile: a K_s serves one connection, which the lock ends 60 s after Table 5. */
  sessionSeconds: 60,
  /** Profile: a member whose window ends within this is refused a session; frames need this much right left. */
  rightsMarginSeconds: 60,
  /** Profile: expiresAt = now + 30 s. */
  operationSeconds: 30,
  /** Profile: a pending registration or removal expires after 5 min. */
  pendingBindSeconds: 300,
  /** Profile: long poll at most 30 s. */
  longPollSeconds: 30,
  accessTokenSeconds: 15 * 60,
  refreshTokenSeconds: 30 * 24 * 3600,
  verificationSeconds: 10 * 60,
  verificationAttempts: 5,
  /** Acknowledged pushes and dead commands are kept this long, for diagnosis, then pruned. */
  outboxRetentionSeconds: 7 * 24 * 3600,
  /** A stream nobody has read for this long (a RAC uninstalled) stops growing the outbox. */
  outboxUnreadSeconds: 30 * 24 * 3600,
} as const;

export interface RateLimit {
  /** Calls allowed per window. */
  limit: number;
  windowSeconds: number;
}

/** Per key (account, device, identifier or client address). */
export interface RateLimits {
  login: RateLimit;
  verification: RateLimit;
  registration: RateLimit;
  session: RateLimit;
  frames: RateLimit;
  bsldAuthentication: RateLimit;
  operation: RateLimit;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  login: { limit: 10, windowSeconds: 60 },
  verification: { limit: 5, windowSeconds: 600 },
  // Wrong setup codes per account and per lock: 10 per 10 min puts 10^8 codes out of reach.
  registration: { limit: 10, windowSeconds: 600 },
  session: { limit: 60, windowSeconds: 60 },
  frames: { limit: 60, windowSeconds: 60 },
  bsldAuthentication: { limit: 30, windowSeconds: 60 },
  operation: { limit: 60, windowSeconds: 60 },
};

export const MIN_PASSWORD_LENGTH = 8;
