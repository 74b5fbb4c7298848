import { hasScope, isOperatorScope, type Principal } from './principal.js';
import type { Decision } from './profile-access.js';
import { allowsOfflineAccess, holdsEveryDataScope, isDataScope, scopeWithin } from './scopes.js';
import { recentSignIn, type StepUpDecision } from './step-up.js';

const ALLOW: Decision = Object.freeze({ allowed: true });
const MISSING_SCOPE: Decision = Object.freeze({ allowed: false, reason: 'MISSING_SCOPE' });
const deny = (principal: Principal): Decision => Object.freeze({ allowed: false, reason: principal.kind === 'user' ? 'NOT_SUBJECT' : 'MISSING_SCOPE' });

/** An operator client holding `agents:admin`: it manages every agent. */
function isAgentAdmin(principal: Principal): boolean {
  return hasScope(principal, 'agents:admin');
}

/**
 * The first operator scope of an agent's ceiling that the caller's own token does not hold, or
 * undefined. An operator client grants, and manages agents holding, only operator scopes it holds
 * itself: else a client with `agents:admin` alone would register an agent with `users:admin`, or
 * rotate the secret of a client holding every operator scope, and act as it. Undefined for any
 * other caller: a user manages only agents they own, which hold no operator scope, and
 * `ceilingProblem` refuses one in their registration. Never throws.
 */
export function operatorScopeBeyond(principal: Principal, scopes: readonly string[]): string | undefined {
  if (principal.kind !== 'client') return undefined;
  return scopes.find((scope) => isOperatorScope(scope) && !hasScope(principal, scope));
}

/**
 * May this caller see and manage this agent (rotate, suspend, reactivate, decommission)? An
 * operator with `agents:admin`, or the signed-in user who owns it; an unknown agent only the
 * operator (who then learns it does not exist). Never throws.
 */
export function decideAgentManagement(principal: Principal, agent: { readonly ownerUserId: string | null } | null | undefined): Decision {
  if (isAgentAdmin(principal)) return ALLOW;
  return principal.kind === 'user' && agent?.ownerUserId === principal.userId ? ALLOW : deny(principal);
}

/**
 * May this caller's session register or change agents at all? Any but a user's narrowed to some
 * fields (a token handed to a widget; `holdsEveryDataScope`), MISSING_SCOPE: a new secret is the
 * agent's whole identity, and decommissioning withdraws the consents other people gave it. Decided
 * before whose agent is named, so the same for every one. Never throws.
 */
export function decideAgentSession(principal: Principal): Decision {
  return principal.kind === 'user' && !holdsEveryDataScope(principal.scopes) ? MISSING_SCOPE : ALLOW;
}

/**
 * May this caller change this agent (rotate its secret, suspend, reactivate, decommission)?
 * `decideAgentSession`, then `decideAgentManagement`. Never throws.
 */
export function decideAgentChange(principal: Principal, agent: { readonly ownerUserId: string | null } | null | undefined): Decision {
  const session = decideAgentSession(principal);
  return session.allowed ? decideAgentManagement(principal, agent) : session;
}

/** Whose suspension a suspension by this caller is: an operator's (agents:admin) binds the owner too. */
export function suspensionBy(principal: Principal): 'operator' | 'owner' {
  return isAgentAdmin(principal) ? 'operator' : 'owner';
}

/**
 * May this caller, who manages the agent (`decideAgentManagement`), lift its suspension? An
 * operator's suspension is a control over the agent that its owner must not undo: only an
 * operator with `agents:admin` lifts it (else MISSING_SCOPE); the owner lifts their own. Never
 * throws.
 */
export function decideAgentReactivation(principal: Principal, agent: { readonly suspendedBy: 'operator' | 'owner' | null }): Decision {
  return agent.suspendedBy === 'operator' && !isAgentAdmin(principal) ? Object.freeze({ allowed: false, reason: 'MISSING_SCOPE' }) : ALLOW;
}

/**
 * May this caller register an agent with this owner and parent? An operator with `agents:admin`
 * any; a signed-in user with a full session (`decideAgentSession`) only one they own (the owner
 * left out or themself), under a parent they own too, having typed their password within
 * `RECENT_SIGN_IN_SECONDS` of `now` (REAUTHENTICATE): the answer holds the agent's
 * secret. Not an agent acting for the user, which holds no sign-in of its own (MISSING_SCOPE).
 * Never throws.
 */
export function decideAgentRegistration(
  principal: Principal,
  ownerUserId: string | null | undefined,
  parent: { readonly ownerUserId: string | null } | null | undefined,
  parentNamed: boolean,
  now: Date,
): StepUpDecision {
  if (isAgentAdmin(principal)) return ALLOW;
  if (principal.kind !== 'user') return deny(principal);
  if (!decideAgentSession(principal).allowed) return MISSING_SCOPE;
  if (ownerUserId && ownerUserId !== principal.userId) return deny(principal);
  if (parentNamed && parent?.ownerUserId !== principal.userId) return deny(principal);
  return recentSignIn(principal, now);
}

/**
 * May this caller rotate this agent's secret? `decideAgentChange`, then, for its owner, a sign-in
 * within `RECENT_SIGN_IN_SECONDS` of `now` (REAUTHENTICATE), as for registering one:
 * the answer holds the new secret. An operator client has no sign-in to ask for. Never throws.
 */
export function decideSecretRotation(principal: Principal, agent: { readonly ownerUserId: string | null } | null | undefined, now: Date): StepUpDecision {
  const change = decideAgentChange(principal, agent);
  if (!change.allowed || principal.kind !== 'user') return change;
  return recentSignIn(principal, now);
}

/**
 * May this caller ask to lift this agent's suspension? `decideAgentChange`, then, for its owner,
 * when the agent's ceiling allows offline access (`allowsOfflineAccess`), a sign-in within
 * `RECENT_SIGN_IN_SECONDS` of `now` (REAUTHENTICATE), whether or not it is suspended now: an owner
 * suspends an agent whose secret leaked, and lifting that lets the secret's holder exchange the
 * user's token, under their consent, for a refresh token that outlives it (and use those it holds),
 * so a stolen or long-refreshed session must not. Whose suspension it lifts is
 * `decideAgentReactivation`'s. Never throws.
 */
export function decideReactivationRequest(
  principal: Principal,
  agent: { readonly ownerUserId: string | null; readonly allowedScopes: readonly string[] } | null | undefined,
  now: Date,
): StepUpDecision {
  return steppedUpForOfflineAgent(decideAgentChange(principal, agent), principal, agent, now);
}

/** Which agents a list shows this caller: all of them, the caller's own, or none. */
export function agentListScope(principal: Principal): { readonly all: true } | { readonly ownerUserId: string } | undefined {
  if (isAgentAdmin(principal)) return { all: true };
  return principal.kind === 'user' ? { ownerUserId: principal.userId } : undefined;
}

/** May this caller see or withdraw this consent? The user who gave it, or an operator with `consents:admin`. */
export function decideConsentAccess(principal: Principal, consent: { readonly userId: string } | null | undefined): Decision {
  if (hasScope(principal, 'consents:admin')) return ALLOW;
  return principal.kind === 'user' && consent?.userId === principal.userId ? ALLOW : deny(principal);
}

/**
 * May this caller give a consent that delegates these scopes (to an agent; none for a consent to
 * the company)? A user signed in themself (MISSING_SCOPE for an agent acting for them or a client),
 * whose token holds every data scope delegated (MISSING_SCOPE): a session narrowed to some
 * categories cannot hand an agent more than it could read or write itself. Scopes that are not
 * data scopes are left for the input's validation to refuse. Never throws.
 */
export function decideConsentGiving(principal: Principal, delegated: readonly string[]): Decision {
  if (principal.kind !== 'user') return MISSING_SCOPE;
  return delegated.some((scope) => isDataScope(scope) && !scopeWithin(scope, principal.scopes)) ? MISSING_SCOPE : ALLOW;
}

/**
 * May this caller give a consent that delegates these scopes to this agent? `decideConsentGiving`,
 * then, when the agent's ceiling allows offline access (`allowsOfflineAccess`), a sign-in within
 * `RECENT_SIGN_IN_SECONDS` of `now` (REAUTHENTICATE), as for registering an agent: the consent
 * lets the agent exchange the user's token for a refresh token of its own, which outlives that
 * token, so a stolen or long-refreshed session must not grant it (a user may consent to anyone's
 * agent: the thief's own, too). An agent that can never hold one, or that is not known (the
 * consent then refuses it), asks for no recent sign-in. Never throws.
 */
export function decideAgentConsentGiving(
  principal: Principal,
  delegated: readonly string[],
  agent: { readonly allowedScopes: readonly string[] } | null | undefined,
  now: Date,
): StepUpDecision {
  return steppedUpForOfflineAgent(decideConsentGiving(principal, delegated), principal, agent, now);
}

/**
 * `decision`, and, once it allows a user something for an agent whose ceiling allows offline
 * access (a refresh token that outlives the user's token), their recent sign-in.
 */
function steppedUpForOfflineAgent(
  decision: Decision,
  principal: Principal,
  agent: { readonly allowedScopes: readonly string[] } | null | undefined,
  now: Date,
): StepUpDecision {
  if (!decision.allowed || principal.kind !== 'user' || !agent || !allowsOfflineAccess(agent.allowedScopes)) return decision;
  return recentSignIn(principal, now);
}

/**
 * May this caller give the company a consent for a purpose covering these data categories? Such a
 * consent lets the company read each of them, so, as for an agent (`decideConsentGiving`), the
 * token must read them all: a session narrowed below the purpose (a token handed to a widget) is
 * refused (MISSING_SCOPE). Never throws.
 */
export function decideCompanyConsentGiving(principal: Principal, dataCategories: readonly string[]): Decision {
  return decideConsentGiving(principal, dataCategories.map((category) => `${category}:read`));
}
