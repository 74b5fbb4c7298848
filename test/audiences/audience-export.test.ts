import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { exportSavedAudience } from '../../src/audiences/audience.export.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';

const clock = fixedClock(new Date());
let hub: Hub;
let marketing: string;
let users: { id: string; accessToken: string; consentId: string }[];
let saved: string;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  marketing = await clientToken(hub, ['audience:read', 'profile:read', 'contact:read', 'preferences:read'], 'agt_01J0000000000000000000EXPT');
  users = [];
  for (let i = 0; i < 7; i++) {
    const user = await signUpUser(hub, { country: 'NL' });
    users.push({ ...user, consentId: await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' }) });
  }
  const created = await graphql<any>(hub, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', {
    token: marketing,
    variables: { input: { name: 'Netherlands', purpose: 'email_marketing', filter: { countries: ['NL'] } } },
  });
  saved = created.data.createAudience.id;
});
afterAll(() => hub.close());

/** The export in batches of `size`, as the lines' ids, calling `between` after the first chunk. */
async function exportInBatches(size: number, between: () => Promise<void> = async () => {}): Promise<string[]> {
  const principal = await hub.services.tokens.authenticate(marketing);
  const chunks = await exportSavedAudience(hub.services, { principal, requestId: null }, saved, size);
  const ids: string[] = [];
  let first = true;
  for await (const chunk of chunks) {
    ids.push(...chunk.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { id: string }).id));
    if (first) await between();
    first = false;
  }
  return ids;
}

describe('an export in batches', () => {
  it('holds every member once, in user-id order, whatever the batch size', async () => {
    const all = users.map((u) => u.id);
    for (const size of [1, 2, 3, 7, 50]) expect(await exportInBatches(size)).toEqual(all);
    const response = await hub.http.inject({ method: 'GET', url: `/audiences/${saved}/export`, headers: { authorization: `Bearer ${marketing}` } });
    expect(response.body.split('\n').filter(Boolean).map((line) => JSON.parse(line).id)).toEqual(all);
  });

  it('leaves out a member who withdraws mid-export from the batches read after', async () => {
    // Batches of 2: the first is sent while the second is read; the last member's batch is read later.
    const last = users.at(-1)!;
    const ids = await exportInBatches(2, async () => {
      const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: last.accessToken, variables: { id: last.consentId } });
      expect(withdrawn.data.withdrawConsent.status).toBe('WITHDRAWN');
    });
    expect(ids).toEqual(users.slice(0, -1).map((u) => u.id));
  });

  it('audits the members a reader took, though it stopped before the end', async () => {
    const principal = await hub.services.tokens.authenticate(marketing);
    const chunks = await exportSavedAudience(hub.services, { principal, requestId: 'req-stopped' }, saved, 2);
    let taken = 0;
    for await (const chunk of chunks) {
      taken += chunk.split('\n').filter(Boolean).length;
      break;
    }
    await hub.services.audit.flush();
    const event = await hub.services.db.selectFrom('audit_events').select(['action', 'detail']).where('request_id', '=', 'req-stopped').executeTakeFirstOrThrow();
    expect(taken).toBe(2);
    expect([event.action, (event.detail as { members: number }).members]).toEqual(['audience.exported', taken]);
  });
});
