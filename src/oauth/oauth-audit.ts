import type { Services } from '../app.js';
import type { OAuthClient } from './client-auth.js';
import type { OAuthError } from './oauth-error.js';

/** Who made a refused request, as far as it got. */
export interface RefusedCaller {
  /** The client once authenticated; undefined when authentication itself failed or never ran. */
  readonly client?: OAuthClient | undefined;
  /** The client id the request named, authenticated or not. */
  readonly claimedId?: string | undefined;
  readonly endpoint: 'token' | 'introspect' | 'revoke';
  readonly requestId: string;
}

/**
 * Records a refused OAuth request as `token.refused`, its reason the RFC error code and the
 * internal detail (never sent to the client), in the trail of the user it concerns, if a verified
 * token named one (see `refusingFor`), else the hub's. Refusals change no state, so the event goes
 * through the buffered writer. Never throws.
 */
export function recordRefusal(services: Pick<Services, 'audit'>, error: OAuthError, caller: RefusedCaller): void {
  const agentId = caller.client?.kind === 'agent' ? caller.client.agent.id : null;
  services.audit.record({
    action: 'token.refused',
    actor: agentId ? { kind: 'client', id: agentId } : { kind: 'anonymous', id: null },
    clientId: agentId ?? caller.claimedId?.slice(0, 128) ?? null,
    ...(error.subject && { subjectUserId: error.subject.userId, consentId: error.subject.consentId ?? null, actorChain: error.subject.actorChain ?? [] }),
    decision: 'DENY',
    reason: `${error.error}: ${error.detail}`,
    requestId: caller.requestId,
    ...(caller.endpoint !== 'token' && { detail: { endpoint: caller.endpoint } }),
  });
}
