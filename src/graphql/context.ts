import type { AccessRecorder } from '../audit/access-recorder.js';
import type { Principal } from '../authz/principal.js';
import type { Services } from '../app.js';

/** What every resolver receives: built once per request, never shared between requests. */
export interface Context {
  readonly requestId: string;
  /** The client's network address, for throttling. */
  readonly address: string;
  /**
   * The caller. Set from the request's bearer token; `signIn` and `signUp` replace an anonymous
   * caller with the user they signed in, so the payload's `user` resolves for that user.
   */
  principal: Principal;
  readonly services: Services;
  /** The profile fields this request read and was refused, for the audit trail. */
  readonly access: AccessRecorder;
}
