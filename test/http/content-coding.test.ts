import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { startTestHub } from '../helpers/hub.js';
import { basic, operatorCredentials } from '../helpers/oauth.js';

// RFC 9110 §8.4: a body sent with Content-Encoding is that coding of its representation. The hub
// decodes none, so it must refuse such a body (415, naming what it takes in Accept-Encoding, RFC
// 9110 §12.5.3) rather than read the coded bytes as JSON or form data: a compressed request would
// fail as malformed, and one merely labelled so would be served as though the label were not there.

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const QUERY = JSON.stringify({ query: '{ __typename }' });
const FORM = 'grant_type=client_credentials';

const post = (url: string, contentType: string, payload: string | Buffer, headers: Record<string, string> = {}) =>
  hub.http.inject({ method: 'POST', url, headers: { 'content-type': contentType, ...headers }, payload });

describe('a request body with a content coding', () => {
  it.each([
    ['gzip, as compressed', 'gzip', gzipSync(QUERY)],
    ['br, though not compressed', 'br', QUERY],
  ])('on /graphql (%s) is refused with 415 in GraphQL shape', async (_, coding, payload) => {
    const response = await post('/graphql', 'application/json', payload, { 'content-encoding': coding });
    expect(response.statusCode).toBe(415);
    expect(response.headers['accept-encoding']).toBe('identity');
    expect(response.json()).toEqual({ errors: [{ message: expect.stringMatching(/content coding/), extensions: { code: 'BAD_USER_INPUT' } }] });
  });

  it.each([
    ['gzip, as compressed', 'gzip', gzipSync(FORM)],
    ['gzip, though not compressed', 'gzip', FORM],
  ])('on /oauth/token (%s) is refused with 415 invalid_request, never issuing a token', async (_, coding, payload) => {
    const response = await post('/oauth/token', 'application/x-www-form-urlencoded', payload, { 'content-encoding': coding, ...basic(operatorCredentials(hub)) });
    expect(response.statusCode).toBe(415);
    expect(response.headers['accept-encoding']).toBe('identity');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.json()).toEqual({ error: 'invalid_request', error_description: expect.stringMatching(/content coding/) });
  });

  it('is read as ever when the coding named is identity', async () => {
    const response = await post('/graphql', 'application/json', QUERY, { 'content-encoding': 'identity' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ data: { __typename: 'Query' } });
    const token = await post('/oauth/token', 'application/x-www-form-urlencoded', FORM, { 'content-encoding': 'Identity', ...basic(operatorCredentials(hub)) });
    expect(token.statusCode).toBe(200);
  });
});
