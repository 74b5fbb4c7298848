import { LRUCache } from 'lru-cache';
import type { RefusedTokenError, TokenRefusal } from '../oauth/token.service.js';
import type { Clock } from '../shared/clock.js';
import { auditCaller } from './audit.service.js';
import type { AuditLogger, AuditWriter } from './audit.writer.js';

/**
 * The `reason` each audited refusal is recorded with: API.md's FORBIDDEN reason where one names
 * it, as the per-field decision does; for a revoked token, which none names, the RFC 6750 error
 * and description the caller was given, as `token.refused` states its other refusals. A token
 * refused because its user is no longer active is not audited: that user was suspended or erased.
 * A user's own token used after it was handed to an agent for a token exchange is: whoever holds it
 * (the agent, most likely) tried to act as the user themself.
 */
const REASONS: Partial<Record<TokenRefusal, string>> = {
  REVOKED: 'invalid_token: token revoked',
  HANDED_TO_AGENT: 'invalid_token: token handed to an agent in a token exchange',
  AGENT_INACTIVE: 'AGENT_INACTIVE',
  NO_CONSENT: 'NO_CONSENT',
  CONSENT_WITHDRAWN: 'CONSENT_WITHDRAWN',
  CONSENT_EXPIRED: 'CONSENT_EXPIRED',
};

/** Refused tokens remembered at once; a few MB at most. */
const DEFAULT_MAX_TOKENS = 50_000;

/**
 * Records, in the trail of the user it acts for, that a delegated token the hub issued was refused
 * because its consent, agent chain or grant no longer stands, or that a user's token was used after
 * it was handed to an agent: the customer who withdrew consent sees that the agent kept trying.
 * Such a refusal answers 401 before the rate limit, so each token (by `jti`) is audited at most
 * once per instance: replaying it writes nothing more. Tokens reach this only with a valid
 * signature, issuer, audience and expiry, so how many distinct ones there are is bounded by how
 * many the hub issued. Each is remembered until it expires, when the expiry check refuses it
 * before this is reached. When every place is held by a token still live, a new refusal is
 * logged, not audited: forgetting a live token instead would let a rotation of replayed tokens
 * write without limit.
 */
export class RefusedTokenRecorder {
  readonly #audit: Pick<AuditWriter, 'record'>;
  readonly #clock: Clock;
  readonly #logger: AuditLogger;
  readonly #maxTokens: number;
  readonly #audited: LRUCache<string, true>;
  #full = false;

  constructor(audit: Pick<AuditWriter, 'record'>, deps: { clock: Clock; logger: AuditLogger; maxTokens?: number }) {
    this.#audit = audit;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#maxTokens = deps.maxTokens ?? DEFAULT_MAX_TOKENS;
    this.#audited = new LRUCache({ max: this.#maxTokens });
  }

  /**
   * Buffers a `token.refused` DENY event for the token's user, naming its agents, consent and
   * purpose, unless this token was audited before, or is neither a delegated one nor a user's one
   * handed to an agent. Never throws.
   */
  record(error: RefusedTokenError, request: { readonly requestId: string; readonly endpoint: string }): void {
    const { claims, principal } = error.token;
    const reason = REASONS[error.refusal];
    const audited = principal.kind === 'delegated' || (principal.kind === 'user' && error.refusal === 'HANDED_TO_AGENT');
    if (!audited || reason === undefined || this.#audited.has(claims.jti)) return;
    if (!this.#remember(claims.jti, claims.exp * 1_000 - this.#clock.now().getTime())) return;
    this.#audit.record({
      action: 'token.refused',
      ...auditCaller(principal, request.requestId),
      subjectUserId: principal.userId,
      decision: 'DENY',
      reason,
      detail: { endpoint: request.endpoint, jti: claims.jti },
    });
  }

  /** Remembers a token for `ttlMs`; false, and nothing remembered, when no place is free. */
  #remember(jti: string, ttlMs: number): boolean {
    if (this.#audited.size >= this.#maxTokens) this.#audited.purgeStale();
    if (this.#audited.size >= this.#maxTokens) {
      if (!this.#full) this.#logger.warn(`audit: ${this.#maxTokens} refused tokens are still live; further refusals are not audited until some expire`);
      this.#full = true;
      return false;
    }
    this.#full = false;
    this.#audited.set(jti, true, { ttl: Math.max(1, ttlMs) });
    return true;
  }
}
