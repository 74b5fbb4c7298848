/** The error codes of RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 7009 §2.2.1 and RFC 6750 §3.1. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'unsupported_token_type'
  | 'invalid_token'
  | 'slow_down';

/** What RFC 6749 §5.2 allows in `error_description`: printable ASCII but `"` and `\`. */
const OUTSIDE_DESCRIPTION_CHARSET = /[^\x20\x21\x23-\x5b\x5d-\x7e]/g;

/**
 * `text` as an `error_description` may carry it (RFC 6749 §5.2): every character outside the
 * allowed set becomes `?`. Descriptions quote what a request sent (a grant type, a scope, a
 * parameter name), and a client must be able to take the answer as the RFC defines it.
 */
const publicDescription = (text: string) => text.replace(OUTSIDE_DESCRIPTION_CHARSET, '?');

/** The user a refused request concerns, once a token the hub verified named them. */
export interface RefusalSubject {
  /** The refused token, by an id of its own (a refresh token's row id, an access token's `jti`). */
  readonly token: string;
  readonly userId: string;
  readonly consentId?: string | null;
  /** The acting agents, nearest first. */
  readonly actorChain?: readonly string[];
}

/**
 * An OAuth error answer: the HTTP status, the RFC error code and a public description go to the
 * client; `detail` is for the audit trail and logs only.
 */
export class OAuthError extends Error {
  override name = 'OAuthError';
  /** The public description, within the character set RFC 6749 §5.2 allows. */
  readonly description: string;
  /** Whose trail the refusal is recorded in, if a verified token named a user (see `concerning`). */
  subject?: RefusalSubject;

  constructor(
    readonly status: number,
    readonly error: OAuthErrorCode,
    description: string,
    readonly detail: string = description,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    const shown = publicDescription(description);
    super(`${error}: ${shown}`);
    this.description = shown;
  }

  /**
   * Marks the refusal as concerning `subject`, unless it concerns someone already, so that the
   * token endpoint records it in that user's trail: a customer who withdrew a consent sees that
   * the agent kept trying to exchange or refresh, as they see it for a refused bearer token.
   */
  concerning(subject: RefusalSubject): this {
    this.subject ??= subject;
    return this;
  }

  /** The RFC 6749 §5.2 JSON body. */
  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}

/** Runs `work`, marking each OAuth refusal it throws as concerning `subject` (see `OAuthError.concerning`). */
export async function refusingFor<T>(subject: RefusalSubject, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw error instanceof OAuthError ? error.concerning(subject) : error;
  }
}

export const invalidRequest = (description: string, detail?: string) => new OAuthError(400, 'invalid_request', description, detail);
export const invalidGrant = (description: string, detail?: string) => new OAuthError(400, 'invalid_grant', description, detail);
export const invalidScope = (description: string) => new OAuthError(400, 'invalid_scope', description);
export const invalidTarget = (description: string) => new OAuthError(400, 'invalid_target', description);
