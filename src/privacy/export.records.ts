import { agentState, type Agent } from '../agents/agent.service.js';
import type { AuditEvent } from '../audit/audit.service.js';
import { approvalState, type Approval } from '../consent/approval.service.js';
import { consentState, type Consent, type ConsentService } from '../consent/consent.service.js';
import type { LineItemJson, OrdersTable } from '../db/database.js';

// The records of the export document (EXPORT_FORMAT), one shape per kind of data. Field names
// follow the GraphQL API's, so a person can read their export beside the API's documentation.

type ConsentHistoryEntry = Awaited<ReturnType<ConsentService['findHistory']>>[number];

export function orderRecord(row: { id: string; placed_at: Date; total_minor: number; currency: string; status: OrdersTable['status']; line_items: LineItemJson[] }) {
  return { id: row.id, placedAt: row.placed_at, totalMinor: Number(row.total_minor), currency: row.currency, status: row.status.toUpperCase(), lineItems: row.line_items };
}

/** Masked as the API shows it: brand, last four digits and expiry; the hub never holds more. */
export function paymentMethodRecord(row: { id: string; brand: string; last4: string; exp_month: number; exp_year: number; created_at: Date }) {
  return { id: row.id, brand: row.brand, last4: row.last4, expMonth: row.exp_month, expYear: row.exp_year, createdAt: row.created_at };
}

/**
 * A consent with its signed receipt (verifiable against /receipts/jwks.json) and its ledger history, oldest
 * first, a withdrawal with the signed receipt of it.
 */
export function consentRecord(consent: Consent, history: readonly ConsentHistoryEntry[], now: Date) {
  return {
    id: consent.id,
    purpose: consent.purpose,
    policyVersion: consent.policyVersion,
    agentId: consent.agentId,
    scopes: consent.scopes,
    status: consentState(consent, now),
    givenAt: consent.givenAt,
    expiresAt: consent.expiresAt,
    withdrawnAt: consent.withdrawnAt,
    collectionMethod: consent.collectionMethod,
    receipt: consent.receipt,
    history: history.map((event) => ({ kind: event.kind.toUpperCase(), occurredAt: event.occurredAt, actor: event.actor, detail: event.detail, receipt: event.receipt })),
  };
}

/** `status` as the API shows it (`agentState`): EXPIRED from `expiresAt` on, suspended or not. */
export function agentRecord(agent: Agent, now: Date) {
  return {
    id: agent.id,
    name: agent.name,
    kind: agent.kind.toUpperCase(),
    description: agent.description,
    status: agentState(agent, now),
    allowedScopes: agent.allowedScopes,
    parentAgentId: agent.parentAgentId,
    createdAt: agent.createdAt,
    expiresAt: agent.expiresAt,
  };
}

/** `status` as the API shows it (`approvalState`): EXPIRED from `expiresAt` on, pending or approved and unused. */
export function approvalRecord(
  row: {
    id: string;
    agent_id: string;
    consent_id: string | null;
    authorization_details: Record<string, unknown>;
    status: Approval['status'];
    created_at: Date;
    expires_at: Date;
    decided_at: Date | null;
    used_at: Date | null;
  },
  now: Date,
) {
  return {
    id: row.id,
    agentId: row.agent_id,
    consentId: row.consent_id,
    authorizationDetails: row.authorization_details,
    status: approvalState({ status: row.status, expiresAt: row.expires_at }, now),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    decidedAt: row.decided_at,
    usedAt: row.used_at,
  };
}

/** A session as the export shows it: the OAuth `scope` string, the instants in ISO 8601. */
export function sessionRecord(row: {
  family_id: string;
  client_id: string;
  scope: string;
  consent_id: string | null;
  actor_chain: string[];
  auth_time: Date;
  started_at: Date;
  last_refreshed_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}) {
  return {
    familyId: row.family_id,
    clientId: row.client_id,
    scope: row.scope,
    consentId: row.consent_id,
    actorChain: row.actor_chain,
    authTime: row.auth_time,
    startedAt: row.started_at,
    lastRefreshedAt: row.last_refreshed_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

/**
 * An event of `actions`, which the person acted in (see `actionsOf`). One about another person
 * (`subjectUserId` set and not `userId`) keeps what the person did: the event's id, time, action
 * and decision, the reason the hub gave for it, and the person's own part (`actor`, `actorChain`,
 * the client they acted through and the request). It withholds, as null or empty, what belongs to
 * the other person: who they are (`subjectUserId`), their consent (`consentId`) and its
 * `purpose`, the fields read or refused of their profile, and `detail`, which each action writes
 * about its subject (the reason of a withdrawal, an agent's scopes, counts of their consents) and
 * which is withheld whole since no list of its keys stays complete. So a refused read of someone
 * else's profile shows that it was tried, not whose nor which fields, as the API shows a person
 * nothing of another's (GDPR Art. 15(4): the copy must not adversely affect the rights of
 * others). Every field is named here, so a new one is withheld or kept by a decision.
 */
export function actionRecord(event: AuditEvent, userId: string): AuditEvent {
  if (event.subjectUserId === null || event.subjectUserId === userId) return event;
  return {
    id: event.id,
    occurredAt: event.occurredAt,
    action: event.action,
    actor: event.actor,
    actorChain: event.actorChain,
    subjectUserId: null,
    clientId: event.clientId,
    purpose: null,
    consentId: null,
    fieldsRead: [],
    fieldsDenied: [],
    decision: event.decision,
    reason: event.reason,
    requestId: event.requestId,
    detail: {},
  };
}
