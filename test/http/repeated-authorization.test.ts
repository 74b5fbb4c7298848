import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { signUpUser, startListeningHub } from '../helpers/hub.js';
import { parseRawAnswer, sendRaw } from '../helpers/net.js';
import { basic, operatorCredentials } from '../helpers/oauth.js';

// Authorization is a field of one value (RFC 9110 §11.6.2), not a list. Node keeps the first of
// two and drops the other, where a proxy in front may have checked the other: credentials so
// presented are two methods at once, refused as invalid_request (RFC 6750 §3.1, RFC 6749 §2.3),
// never one of them picked.

let hub: Hub;
let port: number;
beforeAll(async () => {
  ({ hub, port } = await startListeningHub());
});
afterAll(() => hub.close());

/** Posts `body` of `type` to `path` with one Authorization field line per entry of `authorizations`, then closes. */
async function post(path: string, type: string, body: string, authorizations: readonly string[]) {
  const fields = authorizations.map((value) => `Authorization: ${value}\r\n`).join('');
  return parseRawAnswer(await sendRaw(port, `POST ${path} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n${fields}Content-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
}

describe('two Authorization header fields', () => {
  const query = JSON.stringify({ query: '{ me { id } }' });

  it('on /graphql are refused with 400 invalid_request, whichever token comes first', async () => {
    const user = await signUpUser(hub);
    for (const pair of [[`Bearer ${user.accessToken}`, 'Bearer forged'], ['Bearer forged', `Bearer ${user.accessToken}`], [`Bearer ${user.accessToken}`, `Bearer ${user.accessToken}`]]) {
      const answer = await post('/graphql', 'application/json', query, pair);
      expect(answer.status).toBe(400);
      expect(answer.headers['www-authenticate']).toMatch(/^Bearer realm="hub", error="invalid_request", error_description="[^"]+", resource_metadata="/);
      expect(answer.body).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'BAD_USER_INPUT' } }] });
    }
  });

  it('on /oauth/token are refused with 400 invalid_request, issuing no token', async () => {
    const credentials = basic(operatorCredentials(hub)).authorization!;
    const answer = await post('/oauth/token', 'application/x-www-form-urlencoded', 'grant_type=client_credentials', [credentials, credentials]);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
    expect(answer.headers['cache-control']).toBe('no-store');
  });

  it('leave one field as it was: read and answered', async () => {
    const user = await signUpUser(hub);
    const answer = await post('/graphql', 'application/json', query, [`Bearer ${user.accessToken}`]);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ data: { me: { id: user.id } } });
  });
});
