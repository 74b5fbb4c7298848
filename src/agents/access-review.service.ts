import type { AuditWriter } from '../audit/audit.service.js';
import { auditCaller } from '../audit/audit.service.js';
import type { Db } from '../db/connect.js';
import type { Caller } from '../identity/identity.service.js';
import type { Clock } from '../shared/clock.js';
import { decodeCursor, encodeCursor, pageSize, toConnection, type ConnectionShape } from '../shared/pagination.js';
import { createScopeUse, FINDING_KINDS, findingsOf, type AccessFinding, type AccessFindingKind, type ReviewPolicy } from './access-review.findings.js';
import { parseAccessReviewInput, type AccessReviewInput, type AccessReviewOptions } from './access-review.input.js';
import { findAgentFacts, type AgentFacts } from './access-review.queries.js';

export type { AccessFinding, AccessFindingKind } from './access-review.findings.js';
export { FINDING_KINDS } from './access-review.findings.js';

/**
 * Most agents one review covers. Agents are a small reference table; past this many the review
 * covers the oldest ones and says it is not complete rather than hold an unbounded register in
 * memory.
 */
export const MAX_REVIEWED_AGENTS = 50_000;

/** One row of the register: an agent and what the review learned of it. */
export interface AccessReviewEntry {
  readonly facts: AgentFacts;
  /** Granted data scopes used in the window, and those not used. */
  readonly usedScopes: readonly string[];
  readonly unusedScopes: readonly string[];
  readonly findings: readonly AccessFindingKind[];
}

/** A review as of one moment: the whole register (in creation order) and every finding (most urgent first). */
export interface AccessReview {
  readonly generatedAt: Date;
  readonly options: AccessReviewOptions;
  readonly windowStart: Date;
  /** False when the hub holds more than MAX_REVIEWED_AGENTS agents. */
  readonly complete: boolean;
  readonly entries: readonly AccessReviewEntry[];
  readonly findings: readonly AccessFinding[];
}

export interface AccessReviewDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly audit: Pick<AuditWriter, 'record'>;
}

const DAY_MS = 86_400_000;

/**
 * Reviews every agent's access at once: one statement gathers the facts of the whole register,
 * the findings are derived from them in memory. Who may call it is decided in src/authz (the
 * field asks for `agents:admin`). Audited as `access.reviewed` with the counts found.
 * @throws BadUserInputError for an argument out of bounds.
 */
export async function reviewAccess(deps: AccessReviewDeps, caller: Caller, input: AccessReviewInput): Promise<AccessReview> {
  const options = parseAccessReviewInput(input);
  const now = deps.clock.now();
  const policy: ReviewPolicy = {
    now,
    since: new Date(now.getTime() - options.unusedForDays * DAY_MS),
    unusedForDays: options.unusedForDays,
    rotateBefore: new Date(now.getTime() - options.rotationAgeDays * DAY_MS),
    rotationAgeDays: options.rotationAgeDays,
    expiringBy: new Date(now.getTime() + options.expiringWithinDays * DAY_MS),
  };
  const rows = await findAgentFacts(deps.db, { since: policy.since, now }, MAX_REVIEWED_AGENTS + 1);
  // In registration order, sorted here so the register's cursors compare exactly as the list is ordered.
  const facts = rows.slice(0, MAX_REVIEWED_AGENTS).sort((a, b) => a.agent.createdAt.getTime() - b.agent.createdAt.getTime() || (a.agent.id < b.agent.id ? -1 : 1));
  const byId = new Map(facts.map((f) => [f.agent.id, f]));
  const scopeUse = createScopeUse();
  const perAgent = facts.map((f) => {
    const use = scopeUse(f);
    return { facts: f, use, findings: findingsOf(f, use, byId, policy) };
  });
  const entries = perAgent.map(({ facts: f, use, findings }): AccessReviewEntry => ({ facts: f, usedScopes: use.used, unusedScopes: use.unused, findings: findings.map((x) => x.kind) }));
  const rank = (kind: AccessFindingKind) => FINDING_KINDS.indexOf(kind);
  // A stable sort keeps each kind's findings in the register's order.
  const findings = perAgent.flatMap((a) => a.findings).sort((a, b) => rank(a.kind) - rank(b.kind));
  deps.audit.record({
    action: 'access.reviewed',
    ...auditCaller(caller.principal, caller.requestId),
    decision: 'ALLOW',
    detail: { ...options, agents: entries.length, complete: rows.length <= MAX_REVIEWED_AGENTS, findings: countFindings(findings) },
  });
  return { generatedAt: now, options, windowStart: policy.since, complete: rows.length <= MAX_REVIEWED_AGENTS, entries, findings };
}

/** How many findings of each kind, in the order of FINDING_KINDS. */
export function countFindings(findings: readonly AccessFinding[]): Record<AccessFindingKind, number> {
  const counts = Object.fromEntries(FINDING_KINDS.map((kind) => [kind, 0])) as Record<AccessFindingKind, number>;
  for (const finding of findings) counts[finding.kind]++;
  return counts;
}

/** The sort key of a register row: its agent's creation and id, as `agents` lists them. */
const agentKey = (agent: { createdAt: Date; id: string }) => [agent.createdAt.toISOString(), agent.id] as const;

/**
 * A page of the register after a cursor of this list.
 * @throws BadUserInputError for a bad `first` or a cursor the hub did not make.
 */
export function registerPage(review: AccessReview, first: number | null | undefined, after: string | null | undefined): ConnectionShape<AccessReviewEntry> {
  const limit = pageSize(first);
  const key = after ? (decodeCursor(after, ['string', 'string'], 'accessReview') as [string, string]) : undefined;
  const start = key ? review.entries.findIndex((e) => compareKeys(agentKey(e.facts.agent), key) > 0) : 0;
  const rows = start < 0 ? [] : review.entries.slice(start, start + limit + 1);
  return toConnection(rows, limit, (e) => encodeCursor(agentKey(e.facts.agent), 'accessReview'), (e) => e);
}

/**
 * A page of the findings, of one kind or all, after a cursor of this list.
 * @throws BadUserInputError for a bad `first` or a cursor the hub did not make.
 */
export function findingsPage(
  review: AccessReview,
  options: { kind?: AccessFindingKind | null; first?: number | null; after?: string | null },
): ConnectionShape<AccessFinding> {
  const limit = pageSize(options.first);
  const listed = options.kind ? review.findings.filter((f) => f.kind === options.kind) : review.findings;
  const keyOf = (f: AccessFinding) => [String(FINDING_KINDS.indexOf(f.kind)).padStart(2, '0'), ...agentKey(f.agent)] as const;
  const key = options.after ? (decodeCursor(options.after, ['string', 'string', 'string'], 'accessFindings') as [string, string, string]) : undefined;
  const start = key ? listed.findIndex((f) => compareKeys(keyOf(f), key) > 0) : 0;
  const rows = start < 0 ? [] : listed.slice(start, start + limit + 1);
  return toConnection(rows, limit, (f) => encodeCursor(keyOf(f), 'accessFindings'), (f) => f);
}

function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return 0;
}
