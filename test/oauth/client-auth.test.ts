import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { postForm, startTestHub } from '../helpers/hub.js';
import { basic, clientCredentialsToken, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

// RFC 6749 Appendix A: a client_id and a client secret are VSCHAR (0x20-0x7E). Anything else is
// refused before it reaches the database, which takes no U+0000 at all.

let hub: Hub;
let agent: RegisteredAgent;
let token: string;
beforeAll(async () => {
  hub = await startTestHub();
  agent = await registerAgent(hub, await operatorToken(hub), { name: 'Reporting service', kind: 'SERVICE', allowedScopes: ['orders:read'] });
  token = await clientCredentialsToken(hub, agent);
});
afterAll(() => hub.close());

const ENDPOINTS = [
  ['/oauth/token', { grant_type: 'client_credentials' }],
  ['/oauth/introspect', {}],
  ['/oauth/revoke', {}],
] as const;

const PRESENTED: [string, (form: Record<string, string>) => [Record<string, string>, Record<string, string>]][] = [
  ['a NUL in a posted client_id', (form) => [{ ...form, client_id: 'agt_\u0000', client_secret: 'guess' }, {}]],
  ['a NUL in a Basic client_id', (form) => [form, basic({ clientId: 'agt_\u0000', clientSecret: 'guess' })]],
  ['a NUL in a client_id without a secret', (form) => [{ ...form, client_id: 'agt_\u0000' }, {}]],
  ['a line feed in a client_id', (form) => [form, basic({ clientId: 'agt_\nx', clientSecret: 'guess' })]],
  ['a client_id beyond ASCII', (form) => [{ ...form, client_id: 'agt_é', client_secret: 'guess' }, {}]],
  ['an empty Basic client_id', (form) => [form, basic({ clientId: '', clientSecret: 'guess' })]],
  ['a NUL in a posted secret', (form) => [{ ...form, client_id: agent.clientId, client_secret: `${agent.clientSecret}\u0000` }, {}]],
  ['a NUL in a Basic secret', (form) => [form, basic({ ...agent, clientSecret: `${agent.clientSecret}\u0000` })]],
];

describe.each(ENDPOINTS)('%s', (url, form) => {
  it.each(PRESENTED)('refuses %s with 401 invalid_client', async (_, present) => {
    const [body, headers] = present({ ...form, token });
    const response = await postForm(hub, url, body, headers);
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    expect(response.headers['www-authenticate']).toMatch(/^Basic realm="hub"/);
    expect(response.headers['cache-control']).toBe('no-store');
  });
});

describe('credentials outside VSCHAR', () => {
  it('are audited with what was wrong, and with no client id: the one presented is not stored', async () => {
    const id = (name: string) => ({ 'x-request-id': `vschar-${name}` });
    await postForm(hub, '/oauth/introspect', { token, client_id: 'agt_\u0000', client_secret: 'guess' }, id('client-id'));
    await postForm(hub, '/oauth/revoke', { token }, { ...basic({ ...agent, clientSecret: `${agent.clientSecret}\u0000` }), ...id('secret') });
    await hub.services.audit.flush();
    const events = await hub.database.db
      .selectFrom('audit_events')
      .select(['request_id', 'client_id', 'reason'])
      .where('request_id', 'like', 'vschar-%')
      .orderBy('request_id')
      .execute();
    expect(events).toEqual([
      { request_id: 'vschar-client-id', client_id: null, reason: 'invalid_client: client_id has characters outside VSCHAR' },
      { request_id: 'vschar-secret', client_id: null, reason: 'invalid_client: client secret has characters outside VSCHAR' },
    ]);
  });

  it('leave the client itself untouched: its own credentials still work', async () => {
    expect((await postForm(hub, '/oauth/introspect', { token }, basic(agent))).body).toMatchObject({ active: true, client_id: agent.id });
  });
});
