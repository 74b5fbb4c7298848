import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { appendAuditEvents } from '../../src/audit/audit.append.js';
import { clientToken, graphql, signUpUser, startTestHub } from '../helpers/hub.js';

// The hub keeps instants to the millisecond. Clients often send more digits: Python's isoformat,
// Go's RFC3339Nano and PostgreSQL itself write microseconds, and 23:59:59.999999 is a common way
// to write the end of a day. A bound between two milliseconds must compare as the instant it names.

let hub: Hub;
let auditor: string;
let userId: string;
const LAST_MILLISECOND = '2026-12-31T23:59:59.999Z';
beforeAll(async () => {
  hub = await startTestHub();
  auditor = await clientToken(hub, ['audit:read']);
  userId = (await signUpUser(hub)).id;
  await hub.services.db.transaction().execute((trx) =>
    appendAuditEvents(trx, [{ action: 'profile.read', actor: { kind: 'system', id: null }, subjectUserId: userId, decision: 'ALLOW', requestId: 'req-last-ms' }], new Date(LAST_MILLISECOND)),
  );
});
afterAll(() => hub.close());

/** The request ids of the user's events the bounds keep. */
async function kept(bounds: { from?: string; to?: string }): Promise<string[]> {
  const response = await graphql<any>(hub, 'query($f: AuditFilter) { auditEvents(filter: $f, first: 100) { edges { node { requestId } } } }', {
    token: auditor,
    variables: { f: { userId, ...bounds } },
  });
  expect(response.errors).toBeUndefined();
  return response.data.auditEvents.edges.map((e: { node: { requestId: string } }) => e.node.requestId).filter((id: string) => id === 'req-last-ms');
}

describe('a DateTime bound finer than a millisecond', () => {
  it('keeps an event of 23:59:59.999 before a `to` of 23:59:59.999999, the end of the day', async () => {
    expect(await kept({ from: '2026-12-31T00:00:00Z', to: '2026-12-31T23:59:59.999999Z' })).toEqual(['req-last-ms']);
    expect(await kept({ from: '2026-12-31T00:00:00Z', to: '2026-12-31T23:59:59.9991Z' })).toEqual(['req-last-ms']);
    expect(await kept({ from: '2026-12-31T00:00:00Z', to: LAST_MILLISECOND })).toEqual([]);
  });

  it('leaves out an event of 23:59:59.999 from a `from` later than it by less than a millisecond', async () => {
    expect(await kept({ from: '2026-12-31T23:59:59.9991Z' })).toEqual([]);
    expect(await kept({ from: '2026-12-31T23:59:59.999000Z' })).toEqual(['req-last-ms']);
    // In another offset, the same instants.
    expect(await kept({ from: '2027-01-01T13:59:59.9991+14:00' })).toEqual([]);
    expect(await kept({ to: '2026-12-31T20:29:59.999001-03:30' })).toEqual(['req-last-ms']);
  });
});
