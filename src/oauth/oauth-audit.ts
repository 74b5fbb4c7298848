import type { Services } from '../app.js';
import type { OAuthClient } from './client-auth.js';
import type { OAuthError, RefusalSubject } from './oauth-error.js';

/** Who made a refused request, as far as it got. */
export interface RefusedCaller {
  /** The client once authenticated; undefined when authentication itself failed or never ran. */
  readonly client?: OAuthClient | undefined;
  /** The client id the request named, authenticated or not. */
  readonly claimedId?: string | undefined;
  readonly endpoint: 'token' | 'introspect' | 'revoke';
  readonly requestId: string;
  /** The user whose trail takes the event; the hub's when undefined. */
  readonly subject?: RefusalSubject | undefined;
}

/**
 * Records a refused OAuth request as `token.refused`, its reason the RFC error code and the
 * internal detail (never sent to the client), in the trail of `caller.subject` if given, else the
 * hub's. Refusals change no state, so the event goes through the buffered writer. Never throws.
 */
export function recordRefusal(services: Pick<Services, 'audit'>, error: OAuthError, caller: RefusedCaller): void {
  const agentId = caller.client?.kind === 'agent' ? caller.client.agent.id : null;
  services.audit.record({
    action: 'token.refused',
    actor: agentId ? { kind: 'client', id: agentId } : { kind: 'anonymous', id: null },
    clientId: agentId ?? caller.claimedId?.slice(0, 128) ?? null,
    ...(caller.subject && { subjectUserId: caller.subject.userId, consentId: caller.subject.consentId ?? null, actorChain: caller.subject.actorChain ?? [] }),
    decision: 'DENY',
    reason: `${error.error}: ${error.detail}`,
    requestId: caller.requestId,
    ...(caller.endpoint !== 'token' && { detail: { endpoint: caller.endpoint } }),
  });
}
