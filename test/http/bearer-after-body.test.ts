import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signIn, signUpUser, startListeningHub } from '../helpers/hub.js';
import { exchange, giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

let hub: Hub;
let port: number;
beforeAll(async () => {
  ({ hub, port } = await startListeningHub());
});
afterAll(() => hub.close());

/** Sends a request's head at once and returns a function that sends its body and resolves to the whole answer. */
async function holdBody(head: string, body: string): Promise<() => Promise<string>> {
  const socket = net.connect(port, '127.0.0.1');
  let answer = '';
  socket.on('data', (chunk) => (answer += chunk));
  await once(socket, 'connect');
  socket.write(`${head}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`);
  return async () => {
    socket.write(body);
    await once(socket, 'close');
    return answer;
  };
}

describe('the bearer check and the request’s body', () => {
  it('lets a delegated request whose body arrives after the consent was withdrawn read nothing', async () => {
    const admin = await operatorToken(hub);
    const agent = await registerAgent(hub, admin, { name: 'Assistant', allowedScopes: ['contact:read'] });
    const user = await signUpUser(hub);
    const consentId = await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['contact:read'] });
    const exchanged = await exchange(hub, agent, (await signIn(hub, user)).accessToken, { scope: 'contact:read' });
    const token = exchanged.body.access_token as string;
    expect((await graphql<any>(hub, '{ me { email } }', { token })).data.me.email).toBe(user.email);

    const sendBody = await holdBody(`POST /graphql HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n`, JSON.stringify({ query: '{ me { email } }' }));
    // Whatever the hub does with the head alone, it has had the time to do it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: user.accessToken, variables: { id: consentId } });
    expect(withdrawn.data.withdrawConsent.status).toBe('WITHDRAWN');

    const answer = await sendBody();
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).not.toContain(user.email);
  });

  it('refuses a token the hub did not issue with 401, whatever the body', async () => {
    const forged = await hub.http.inject({ method: 'POST', url: '/graphql', headers: { authorization: 'Bearer not.a.token', 'content-type': 'application/json' }, payload: '{ not json' });
    expect(forged.statusCode).toBe(401);
    expect(forged.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    const oversized = await hub.http.inject({ method: 'POST', url: '/graphql', headers: { authorization: 'Bearer not.a.token', 'content-type': 'text/plain' }, payload: 'x'.repeat(1_000) });
    expect(oversized.statusCode).toBe(401);
  });
});
