import { GraphQLError } from 'graphql';

/** The `extensions.code` values of the public contract (API.md). */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'RATE_LIMITED'
  | 'INTERNAL_SERVER_ERROR';

/** Why a `FORBIDDEN` error was raised (`extensions.reason`). */
export type ForbiddenReason =
  | 'MISSING_SCOPE'
  | 'NO_CONSENT'
  | 'CONSENT_WITHDRAWN'
  | 'CONSENT_EXPIRED'
  | 'NOT_SUBJECT'
  | 'AGENT_INACTIVE'
  | 'APPROVAL_REQUIRED'
  | 'PURPOSE_NOT_COVERED';

/**
 * What `make` returns, with no stack captured for any error it makes: an error that is the
 * client's answer (or is caught and dropped) is never logged, and a query can make thousands.
 * Capturing a stack costs some 10 µs; an error made around another one (graphql-js's GraphQLError
 * given an `originalError`) also formats the stack it captured, through the source maps the hub
 * runs with, some 30 µs more, only to replace it with the other's.
 */
export function withoutStack<T>(make: () => T): T {
  const { stackTraceLimit } = Error;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

/**
 * An error meant for the client: its message and extensions are public. Anything that is not a
 * HubError (or one of GraphQL's own request errors) is masked before it leaves the server. It
 * captures no stack (see `withoutStack`), and its stack is its first line alone: it is the
 * client's answer, never logged, and graphql-js reads the stack of each error a resolver throws.
 */
export class HubError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    extensions: Record<string, unknown> = {},
  ) {
    const { stackTraceLimit } = Error;
    Error.stackTraceLimit = 0;
    try {
      super(message, { extensions: { ...extensions, code } });
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.stack = `${this.name}: ${message}`;
  }
}

export class UnauthenticatedError extends HubError {
  constructor(message = 'Authentication required') {
    super('UNAUTHENTICATED', message);
  }
}

export class ForbiddenError extends HubError {
  constructor(
    readonly reason: ForbiddenReason,
    message = 'Not allowed',
  ) {
    super('FORBIDDEN', message, { reason });
  }
}

export class NotFoundError extends HubError {
  constructor(what: string) {
    super('NOT_FOUND', `${what} not found`);
  }
}

/** A bad input value; `field` names the input field, as a dotted path. */
export class BadUserInputError extends HubError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('BAD_USER_INPUT', `${field}: ${message}`, { field });
  }
}

export class RateLimitedError extends HubError {
  constructor(
    readonly retryAfterSeconds: number,
    message = `Too many attempts; retry after ${retryAfterSeconds} s`,
  ) {
    super('RATE_LIMITED', message, { retryAfter: retryAfterSeconds });
  }
}
