import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { postForm, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const basic = (id: string) => ({ authorization: `Basic ${Buffer.from(`${id}:not-the-secret`).toString('base64')}` });

describe('a prepared statement of a running instance', () => {
  it('answers as before once a later migration adds a column to the table it reads', async () => {
    const answer = async (n: number) => (await postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic(`agt_unknown_${n}`))).status;
    for (let n = 0; n < 12; n++) expect(await answer(n)).toBe(401);
    await sql`alter table agents add column added_later text`.execute(hub.services.db);
    await sql`alter table agent_secrets add column added_later text`.execute(hub.services.db);
    const after = [];
    for (let n = 12; n < 24; n++) after.push(await answer(n));
    expect(after).toEqual(after.map(() => 401));
  });
});
