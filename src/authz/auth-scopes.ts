import { createContextCache } from '@pothos/core';
import { agentLoader } from '../agents/agent.loaders.js';
import { auditCaller } from '../audit/audit.service.js';
import { consentLoader } from '../consent/consent.loaders.js';
import { auditOf } from '../consent/withdrawal.js';
import { userLoader } from '../identity/user.loaders.js';
import type { Context } from '../graphql/context.js';
import {
  decideAgentChange,
  decideAgentConsentGiving,
  decideAgentManagement,
  decideAgentRegistration,
  decideConsentAccess,
  decideReactivationRequest,
  decideSecretRotation,
} from './agent-access.js';
import { grantState } from './delegation.js';
import { decideProfileField, type ProfileFieldScope } from './field-scopes.js';
import { hasScope, type OperatorScope } from './principal.js';
import { decideSelfErasure } from './privacy-access.js';
import { decideSubject, decideUserFilter, decideUserRecords, decideWrite, type Decision } from './profile-access.js';
import type { FieldRef, FilterRead } from './scopes.js';
import { settleStepUp } from './step-up-refusals.js';

/**
 * The scopes fields declare with `authScopes`. Each is decided here and only here; resolvers
 * never re-check them. Pothos builds these once per request and caches each answer.
 */
export interface AuthScopes {
  /** Any caller with a valid token. */
  authenticated: boolean;
  /** A caller whose token carries this operator scope. */
  operator: OperatorScope;
  /**
   * The user with this id themself (or an agent acting for them), or an operator with
   * `users:admin`. A caller with a token refused an existing user is audited against that user.
   */
  subject: string;
  /** The per-field decision for reading one profile field. */
  profileField: ProfileFieldScope;
  /**
   * The keys the `filter` of the user list sets, each decided as a read of the field it selects
   * on (see `decideUserFilter`). A refusal names no user: it is recorded as a `profile.read`
   * refused about no one, with the field and the key.
   */
  userFilter: readonly FilterRead[];
  /** The user with this id, signed in themself: not an agent acting for them, not an operator. */
  self: SelfScope;
  /**
   * A list of one user's own records (see `decideUserRecords`), read or refused as the field
   * `field` of the request's `profile.read` event about the user.
   */
  userRecords: UserRecordsScope;
  /**
   * The status of the user with this id: an operator with `users:admin`, read or refused as the
   * field `status` of the request's `profile.read` event about the user.
   */
  userStatus: string;
  /** The user with this id erasing their own account (see `decideSelfErasure`): a full session, signed in recently. */
  selfErasure: string;
  /** The caller's own profile, with the decision of `decideWrite` allowing every one of these fields (at least one). */
  profileWrite: readonly FieldRef[];
  /** A user signed in themself: not an agent acting for them, not a client. */
  signedInUser: boolean;
  /**
   * A user signed in themself giving a consent that delegates these scopes to this agent (see
   * `decideAgentConsentGiving`): signed in recently when the agent may hold a refresh token.
   */
  consentGiver: ConsentGivingScope;
  /** The agent with this id: an operator with `agents:admin`, or the user who owns it. */
  agentManager: string;
  /** Changing the agent with this id (see `decideAgentChange`): `agentManager`, a user with a full session. */
  agentChanger: string;
  /** The owner of this agent, shown as `agentManager` allows; a refusal is recorded against the owner, as `user` denied. */
  agentOwner: AgentOwnerScope;
  /** Registering an agent with this owner and parent (see `decideAgentRegistration`): a user signed in recently. */
  agentRegistrar: AgentRegistrationScope;
  /** Rotating the secret of the agent with this id (see `decideSecretRotation`): `agentChanger`, a user signed in recently. */
  agentSecretRotator: string;
  /** Lifting the suspension of the agent with this id (see `decideReactivationRequest`): `agentChanger`, a user signed in recently when it keeps access. */
  agentReactivator: string;
  /**
   * Withdrawing the consent with this id: the user who gave it, or an operator with
   * `consents:admin`; a refusal is recorded in the user's trail as `consent.withdrawn` denied.
   */
  consentHolder: string;
  /** `consentHolder` for reading the consent, read or refused as the field `consents` of the request's `profile.read` event about its user. */
  consentReader: string;
}

/** The parameter of the `agentOwner` scope: the agent, and the user who owns it. */
export interface AgentOwnerScope {
  readonly agentId: string;
  readonly ownerUserId: string;
}

/** The parameter of the `self` scope: whose field, and which. */
export interface SelfScope {
  readonly userId: string;
  readonly field: 'accessLog';
}

/** The parameter of the `userRecords` scope: whose list, its field, and the operator scope that reads any user's. */
export interface UserRecordsScope {
  readonly userId: string;
  readonly field: 'approvals' | 'consents' | 'connectedAgents';
  readonly operator: OperatorScope;
}

/** The parameter of the `consentGiver` scope: the agent the input names (none for the company) and the scopes it delegates. */
export interface ConsentGivingScope {
  readonly agentId?: string | null;
  readonly scopes: readonly string[];
}

/** The parameter of the `agentRegistrar` scope: the owner and parent the input names. */
export interface AgentRegistrationScope {
  readonly ownerUserId?: string | null;
  readonly parentAgentId?: string | null;
}

export function createAuthScopes(context: Context) {
  return {
    authenticated: () => context.principal.kind !== 'anonymous',
    operator: (scope: OperatorScope) => hasScope(context.principal, scope),
    subject: (userId: string): boolean | Promise<boolean> => {
      const decision = decideSubject(context.principal, userId);
      if (decision.allowed || context.principal.kind === 'anonymous') return decision.allowed;
      // A caller refused another user is audited against that user; an id that names no one
      // opens no audit chain of its own.
      return userLoader(context)
        .load(userId)
        .then((user) => {
          if (user) context.access.note(userId, 'user', decision.reason);
          return false;
        });
    },
    profileField: (scope: ProfileFieldScope) => decideProfileField(context, scope),
    userFilter: (reads: readonly FilterRead[]) => {
      const decision = decideUserFilter(context.principal, reads);
      if (!decision.allowed && context.principal.kind !== 'anonymous') {
        context.services.audit.record({
          action: 'profile.read',
          ...auditCaller(context.principal, context.requestId),
          subjectUserId: null,
          fieldsDenied: [decision.ref.field],
          decision: 'DENY',
          reason: decision.reason,
          detail: { refusedFilter: `filter.${decision.key}` },
        });
      }
      return decision.allowed;
    },
    self: ({ userId, field }: SelfScope) => {
      const allowed = context.principal.kind === 'user' && context.principal.userId === userId;
      // Read or refused, in the person's trail as every other field of theirs is.
      if (context.principal.kind !== 'anonymous') context.access.note(userId, field, allowed ? undefined : 'NOT_SUBJECT');
      return allowed;
    },
    userRecords: ({ userId, field, operator }: UserRecordsScope) => {
      const decision = decideUserRecords(context.principal, userId, operator);
      context.access.note(userId, field, decision.allowed ? undefined : decision.reason);
      return decision.allowed;
    },
    userStatus: (userId: string) => {
      const allowed = hasScope(context.principal, 'users:admin');
      if (context.principal.kind !== 'anonymous') context.access.note(userId, 'status', allowed ? undefined : 'MISSING_SCOPE');
      return allowed;
    },
    selfErasure: (userId: string) => decideSelfErasure(context.principal, userId, context.services.clock.now()).allowed,
    profileWrite: (refs: readonly FieldRef[]): boolean | Promise<boolean> => {
      const principal = context.principal;
      const settle = (decision: Decision) => {
        writeDecisions(context).set(writeKey(refs), decision);
        // A refused change is in the person's trail, as an allowed one is (in its own transaction).
        if (!decision.allowed && (principal.kind === 'user' || principal.kind === 'delegated')) {
          context.services.audit.record({
            action: 'profile.updated',
            ...auditCaller(principal, context.requestId),
            subjectUserId: principal.userId,
            fieldsDenied: refs.map((ref) => ref.field),
            decision: 'DENY',
            reason: decision.reason,
          });
        }
        return decision.allowed;
      };
      if (principal.kind !== 'delegated') return settle(decideWrite(principal, refs, null));
      return grantState(context).then((grant) => settle(decideWrite(principal, refs, grant)));
    },
    signedInUser: () => context.principal.kind === 'user',
    consentGiver: async (giving: ConsentGivingScope) => {
      const agent = giving.agentId ? await agentLoader(context).load(giving.agentId) : null;
      const decision = decideAgentConsentGiving(context.principal, giving.scopes, agent, context.services.clock.now());
      return settleStepUp(context, 'consentGiver', giving, decision, { agentId: giving.agentId });
    },
    agentManager: async (agentId: string) => decideAgentManagement(context.principal, await agentLoader(context).load(agentId)).allowed,
    agentChanger: async (agentId: string) => decideAgentChange(context.principal, await agentLoader(context).load(agentId)).allowed,
    agentOwner: async ({ agentId, ownerUserId }: AgentOwnerScope) => {
      const { principal } = context;
      const decision = decideAgentManagement(principal, await agentLoader(context).load(agentId));
      if (principal.kind === 'anonymous' || ('userId' in principal && principal.userId === ownerUserId)) return decision.allowed;
      // Refused, or shown to an operator as the user list shows it: in the owner's trail either way.
      context.access.note(ownerUserId, decision.allowed ? 'id' : 'user', decision.allowed ? undefined : decision.reason);
      return decision.allowed;
    },
    agentRegistrar: async (registration: AgentRegistrationScope) => {
      const { ownerUserId, parentAgentId } = registration;
      const parent = parentAgentId ? await agentLoader(context).load(parentAgentId) : null;
      const decision = decideAgentRegistration(context.principal, ownerUserId, parent, Boolean(parentAgentId), context.services.clock.now());
      return settleStepUp(context, 'agentRegistrar', registration, decision, parentAgentId ? { parentAgentId } : undefined);
    },
    agentSecretRotator: async (agentId: string) => {
      const decision = decideSecretRotation(context.principal, await agentLoader(context).load(agentId), context.services.clock.now());
      return settleStepUp(context, 'agentSecretRotator', agentId, decision, { agentId });
    },
    agentReactivator: async (agentId: string) => {
      const decision = decideReactivationRequest(context.principal, await agentLoader(context).load(agentId), context.services.clock.now());
      return settleStepUp(context, 'agentReactivator', agentId, decision, { agentId });
    },
    consentHolder: async (consentId: string) => {
      const { consent, decision } = await consentAccess(context, consentId);
      // A refused withdrawal is in the consent's user's trail, as a refused read of it is; an id
      // that names no consent names no one to audit.
      if (consent && !decision.allowed && context.principal.kind !== 'anonymous') {
        context.services.audit.record({ ...auditOf('consent.withdrawn', consent, auditCaller(context.principal, context.requestId), {}), decision: 'DENY', reason: decision.reason });
      }
      return decision.allowed;
    },
    consentReader: async (consentId: string) => {
      const { consent, decision } = await consentAccess(context, consentId);
      // Read or refused as `User.consents` is; an id that names no consent names no one to audit.
      if (consent && context.principal.kind !== 'anonymous') context.access.note(consent.userId, 'consents', decision.allowed ? undefined : decision.reason);
      return decision.allowed;
    },
  };
}

/** The consent an id names, if any, and whether this request's caller may see or withdraw it. */
async function consentAccess(context: Context, consentId: string) {
  const consent = await consentLoader(context).load(consentId);
  return { consent, decision: decideConsentAccess(context.principal, consent) };
}

/** The decisions of this request's profile writes, by the fields each names, for the same reason. */
export const writeDecisions = createContextCache((_context: Context) => new Map<string, Decision>());
export const writeKey = (refs: readonly FieldRef[]) => refs.map((ref) => `${ref.category}.${ref.field}`).join('\u0000');
