import { describe, expect, it } from 'vitest';
import { testServerUrl } from '../helpers/database.js';
import { runUnderSmallHeap } from '../helpers/small-heap.js';

/**
 * A hub with the small heap of a memory-limited deployment, one of whose customers gave and
 * withdrew consents as large as the hub lets them be: every data scope of a purpose over every
 * category, whose notice URL is as long as a purpose's may be, so each consent is some 22 KB of
 * export (its scopes, and both receipts, which sign them and the notice URL). As many operator
 * clients as the instance lets export at once export them, none reading past the first bytes.
 */
const EXPORTS_UNDER_SMALL_HEAP = `
import net from 'node:net';
import { sql } from 'kysely';
import { createHub } from './src/app.ts';
import { loadConfig } from './src/config.ts';
import { ALL_DATA_SCOPES, DATA_CATEGORIES } from './src/authz/scopes.ts';
import { EXPORT_SCOPES } from './src/authz/privacy-access.ts';
const CONSENTS = 600;
const hub = await createHub(loadConfig(process.env));
await hub.listen();
const { db } = hub.services;
const userId = 'usr_' + '1'.padStart(26, '0');
await sql\`insert into users (id, email, country) values (\${userId}, 'member@example.com', 'NL')\`.execute(db);
const operator = { principal: { kind: 'client', clientId: 'agt_' + 'O'.padStart(26, '0'), scopes: new Set(['purposes:admin']), tokenId: 'operator' }, requestId: 'setup' };
const purpose = 'p'.repeat(64);
await hub.services.purposes.define({ key: purpose, title: 'T'.repeat(200), description: 'Everything', lawfulBasis: 'consent', dataCategories: Object.keys(DATA_CATEGORIES),
  noticeUrl: 'https://example.com/' + 'n'.repeat(1970), noticeText: 'Notice' }, operator);
const scopes = [...ALL_DATA_SCOPES, ...Object.entries(DATA_CATEGORIES).flatMap(([c, fields]) => fields.flatMap((f) => [c + '.' + f + ':read', c + '.' + f + ':write']))];
const agentId = 'agt_' + 'A'.padStart(26, '0');
await db.insertInto('agents').values({ id: agentId, name: 'Assistant', kind: 'service', description: null, allowed_scopes: scopes, owner_kind: 'user', owner_user_id: userId, parent_agent_id: null }).execute();
const self = { principal: { kind: 'user', userId, clientId: agentId, scopes: new Set(ALL_DATA_SCOPES), tokenId: 'self' }, requestId: 'r'.repeat(64) };
const given = await hub.services.consents.give(userId, { purpose, agentId, scopes, collectionMethod: 'm'.repeat(64), expiresAt: new Date(Date.now() + 300 * 86_400_000) }, self);
await hub.services.consents.withdraw(given.id, self);
await sql\`insert into consents (id, user_id, purpose, agent_id, scopes, status, given_at, expires_at, withdrawn_at, collection_method, policy_version, receipt)
  select 'cns_' || lpad(i::text, 26, '0'), user_id, purpose, agent_id, scopes, status, given_at, expires_at, withdrawn_at, collection_method, policy_version, receipt
  from consents, generate_series(1, \${CONSENTS}::int) i where id = \${given.id}\`.execute(db);
await sql\`insert into consent_events (consent_id, user_id, kind, occurred_at, actor_kind, actor_id, detail)
  select 'cns_' || lpad(i::text, 26, '0'), user_id, kind, occurred_at, actor_kind, actor_id, detail
  from consent_events, generate_series(1, \${CONSENTS}::int) i where consent_id = \${given.id}\`.execute(db);
const clientScopes = ['users:admin', ...EXPORT_SCOPES];
const tokens = [];
for (let c = 0; c < hub.services.config.maxDataExports; c++) {
  const clientId = 'agt_' + String(c).padStart(26, '0');
  await db.insertInto('agents').values({ id: clientId, name: 'Privacy desk', kind: 'service', description: null, allowed_scopes: clientScopes, owner_kind: 'operator', owner_user_id: null, parent_agent_id: null }).execute();
  tokens.push((await hub.services.tokens.issueAccessToken({ sub: clientId, client_id: clientId, scope: clientScopes.join(' ') })).accessToken);
}
// Each reader takes the first bytes of its answer, then nothing more.
const answers = tokens.map(() => '');
tokens.forEach((token, i) => {
  const socket = net.connect(Number(process.env.PORT), '127.0.0.1', () => socket.write('GET /users/' + userId + '/export HTTP/1.1\\r\\nHost: hub\\r\\nAuthorization: Bearer ' + token + '\\r\\n\\r\\n'));
  socket.once('data', (chunk) => {
    socket.pause();
    answers[i] = chunk.toString('latin1', 0, 12);
  });
});
// Each export reads its pages until its connection takes no more: once every answer has begun
// (or 50 s have passed, on a busy machine), ten seconds more for the last to fill their buffers.
for (const since = Date.now(); answers.some((head) => head === '') && Date.now() - since < 50_000; ) await new Promise((resolve) => setTimeout(resolve, 100));
await new Promise((resolve) => setTimeout(resolve, 10_000));
console.log(JSON.stringify({ statuses: answers.map((head) => Number(head.slice(9, 12))) }));
process.exit(0);
`;

// The pages an export holds are the same on either database; the hundred exports take a minute of
// a busy machine on PGlite, half that on the server.
describe.skipIf(!testServerUrl())('personal data exports under a small heap', () => {
  it('hold a bounded page each of the largest consents, as many open as the instance allows, rather than ending the process', async () => {
    const run = await runUnderSmallHeap(EXPORTS_UNDER_SMALL_HEAP, 128);
    expect(run.stderr).not.toMatch(/heap out of memory/);
    expect(run.status).toBe(0);
    const { statuses } = JSON.parse(run.stdout) as { statuses: number[] };
    expect(statuses).toHaveLength(100);
    // Those not begun yet (0) on a busy machine wait for a turn of the instance's page reads.
    expect(statuses.every((status) => status === 200 || status === 0)).toBe(true);
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(10);
  }, 120_000);
});
