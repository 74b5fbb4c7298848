import { describe, expect, it } from 'vitest';
import { runUnderSmallHeap } from '../helpers/small-heap.js';

/**
 * A hub with the small heap of a memory-limited deployment, whose customers filled their
 * preferences as far as a profile takes them (some 4 KB of JSON each), exported by four marketing
 * clients at once, two exports each, none of them read. Each export of 3,000 such members is
 * 12 MB of lines, held as rows, as a batch's text and as the bytes written.
 */
const EXPORT_UNDER_SMALL_HEAP = `
import net from 'node:net';
import { sql } from 'kysely';
import { createHub } from './src/app.ts';
import { loadConfig } from './src/config.ts';
const MEMBERS = 3000;
const hub = await createHub(loadConfig(process.env));
await hub.listen();
const { db } = hub.services;
const tag = (letter) => sql.raw("(select jsonb_agg(lpad(i::text, 50, '" + letter + "')) from generate_series(1, 30) i)");
const preferences = sql\`jsonb_build_object('channels', '["email","sms","push","post"]'::jsonb, 'interests', \${tag('i')}, 'tags', \${tag('t')},
  'sizes', (select jsonb_object_agg(lpad(i::text, 50, 'k'), repeat('v', 20)) from generate_series(1, 10) i))\`;
await sql\`insert into users (id, email, country, preferences)
  select 'usr_' || lpad(i::text, 26, '0'), 'member' || i || '@example.com', 'NL', \${preferences} from generate_series(1, \${MEMBERS}::int) i\`.execute(db);
const { rows: [{ version }] } = await sql\`select version from purposes where key = 'email_marketing' order by created_at desc limit 1\`.execute(db);
for (let from = 1; from <= MEMBERS; from += 500) {
  await sql\`insert into consents (id, user_id, purpose, agent_id, scopes, status, given_at, collection_method, policy_version)
    select 'cns_' || lpad(i::text, 26, '0'), 'usr_' || lpad(i::text, 26, '0'), 'email_marketing', null, '{}', 'active', now(), 'sign_up_form', \${String(version)}
    from generate_series(\${from}::int, \${Math.min(from + 499, MEMBERS)}::int) i\`.execute(db);
}
const exports = [];
for (let c = 0; c < 4; c++) {
  const clientId = 'agt_01J00000000000000000MEMEX' + c;
  const scopes = ['audience:read', 'profile:read', 'contact:read', 'preferences:read'];
  await db.insertInto('agents').values({ id: clientId, name: 'Marketing', kind: 'service', description: null, allowed_scopes: scopes, owner_kind: 'operator', owner_user_id: null, parent_agent_id: null }).execute();
  const { accessToken } = await hub.services.tokens.issueAccessToken({ sub: clientId, client_id: clientId, scope: scopes.join(' ') });
  const created = await hub.http.inject({ method: 'POST', url: '/graphql', headers: { authorization: 'Bearer ' + accessToken },
    payload: { query: 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', variables: { input: { name: 'All', purpose: 'email_marketing', filter: {} } } } });
  for (let e = 0; e < 2; e++) exports.push({ token: accessToken, id: created.json().data.createAudience.id });
}
// Each reader takes the first bytes of its answer, then nothing more.
const answers = exports.map(() => '');
exports.forEach(({ token, id }, i) => {
  const socket = net.connect(Number(process.env.PORT), '127.0.0.1', () => socket.write('GET /audiences/' + id + '/export HTTP/1.1\\r\\nHost: hub\\r\\nAuthorization: Bearer ' + token + '\\r\\n\\r\\n'));
  socket.once('data', (chunk) => {
    socket.pause();
    answers[i] = chunk.toString('latin1', 0, 512);
  });
});
// Their answers begin, and what they hold is read, while no reader takes a byte more.
await new Promise((resolve) => setTimeout(resolve, 4000));
const statuses = answers.map((head) => Number(/^HTTP\\/1\\.1 (\\d{3})/.exec(head)?.[1]));
const retryAfter = answers.filter((head) => head.startsWith('HTTP/1.1 503')).map((head) => /\\r\\nretry-after: (\\d+)/i.exec(head)?.[1]);
console.log(JSON.stringify({ statuses, retryAfter }));
process.exit(0);
`;

describe('audience exports under a small heap', () => {
  it('hold their lines to a bound, asking further exports to retry, rather than ending the process', async () => {
    const run = await runUnderSmallHeap(EXPORT_UNDER_SMALL_HEAP, 128, { HUB_GRAPHQL_RATE_LIMIT: '100000' });
    expect(run.stderr).not.toMatch(/heap out of memory/);
    expect(run.status).toBe(0);
    const { statuses, retryAfter } = JSON.parse(run.stdout) as { statuses: number[]; retryAfter: string[] };
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThan(0);
    expect(statuses.filter((status) => status === 503).length).toBeGreaterThan(0);
    expect(statuses.every((status) => status === 200 || status === 503)).toBe(true);
    expect(retryAfter.every((seconds) => Number(seconds) > 0)).toBe(true);
  }, 90_000);
});
