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

/**
 * An OAuth error answer: the HTTP status, the RFC error code and a public description go to the
 * client; `detail` is for the audit trail and logs only.
 */
export class OAuthError extends Error {
  override name = 'OAuthError';

  constructor(
    readonly status: number,
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly detail: string = description,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(`${error}: ${description}`);
  }

  /** The RFC 6749 §5.2 JSON body. */
  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}

export const invalidRequest = (description: string, detail?: string) => new OAuthError(400, 'invalid_request', description, detail);
export const invalidGrant = (description: string, detail?: string) => new OAuthError(400, 'invalid_grant', description, detail);
export const invalidScope = (description: string) => new OAuthError(400, 'invalid_scope', description);
export const invalidTarget = (description: string) => new OAuthError(400, 'invalid_target', description);
