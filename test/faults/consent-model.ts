import type { Db } from '../../src/db/connect.js';

/** What a user's consents are, by id, as the fault test models them from acknowledged changes. */
export type ConsentStates = ReadonlyMap<string, { readonly purpose: string; readonly agentId: string | null; readonly status: 'active' | 'withdrawn' }>;

/** One consent change a client sends: a `giveConsent` or a `withdrawConsent`, aliased `change`. */
export type Change =
  | { readonly kind: 'give'; readonly purpose: string; readonly agentId: string | null; readonly mutation: string; readonly variables: Record<string, unknown> }
  | { readonly kind: 'withdraw'; readonly id: string; readonly mutation: string; readonly variables: Record<string, unknown> };

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const GIVE = 'mutation($i: GiveConsentInput!) { change: giveConsent(input: $i) { id } }';
const WITHDRAW = 'mutation($id: ID!) { change: withdrawConsent(id: $id) { id } }';

/** The next change, drawn from `next`: a withdrawal of a known consent, or a consent to the company or the agent. */
export function consentChange(next: () => number, states: ConsentStates, agentId: string): Change {
  const known = [...states.keys()];
  if (known.length > 0 && next() < 0.4) {
    const id = known[Math.floor(next() * known.length)]!;
    return { kind: 'withdraw', id, mutation: WITHDRAW, variables: { id } };
  }
  const choices = [
    { purpose: 'support', agentId, scopes: ['orders:read'] },
    { purpose: 'support', agentId, scopes: ['orders:read', 'contact.email:read'] },
    { purpose: 'personalization', agentId: null, scopes: [] },
    { purpose: 'email_marketing', agentId: null, scopes: [] },
  ];
  const { purpose, agentId: grantee, scopes } = choices[Math.floor(next() * choices.length)]!;
  return { kind: 'give', purpose, agentId: grantee, mutation: GIVE, variables: { i: { purpose, scopes, ...(grantee && { agentId: grantee }) } } };
}

/**
 * The states after `change` as the hub promises to apply it: a withdrawal ends that consent; a
 * new consent (`givenId`) supersedes the live one of the same purpose and grantee.
 */
export function applyChange(states: ConsentStates, change: Change, givenId?: string): ConsentStates {
  const after = new Map(states);
  if (change.kind === 'withdraw') {
    const consent = after.get(change.id);
    if (consent) after.set(change.id, { ...consent, status: 'withdrawn' });
    return after;
  }
  for (const [id, consent] of after) {
    if (consent.status === 'active' && consent.purpose === change.purpose && consent.agentId === change.agentId) after.set(id, { ...consent, status: 'withdrawn' });
  }
  after.set(givenId!, { purpose: change.purpose, agentId: change.agentId, status: 'active' });
  return after;
}

/** The user's consents as the database holds them. */
export async function readConsentStates(db: Db, userId: string): Promise<ConsentStates> {
  const rows = await db.selectFrom('consents').select(['id', 'purpose', 'agent_id', 'status']).where('user_id', '=', userId).execute();
  return new Map(rows.map((r) => [r.id, { purpose: r.purpose, agentId: r.agent_id, status: r.status as 'active' | 'withdrawn' }]));
}

export function sameStates(a: ConsentStates, b: ConsentStates): boolean {
  return a.size === b.size && [...a].every(([id, s]) => {
    const other = b.get(id);
    return other !== undefined && other.purpose === s.purpose && other.agentId === s.agentId && other.status === s.status;
  });
}
