import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { addressNetwork } from '../../src/shared/address.js';
import { startTestHub } from '../helpers/hub.js';

// Some load balancers write the client's source port into X-Forwarded-For (`203.0.113.5:50123`,
// `[2001:db8::1]:50123`); a client opens a new connection, and so a new port, at will.

const BALANCER = '10.0.0.7';

describe('anonymous GraphQL callers behind a proxy that forwards ports', () => {
  let hub: Hub;
  beforeAll(async () => {
    hub = await startTestHub({ HUB_GRAPHQL_RATE_LIMIT: '1', HUB_TRUSTED_PROXIES: '10.0.0.0/24' });
  });
  afterAll(() => hub.close());

  const post = (forwardedFor: string) =>
    hub.http.inject({
      method: 'POST',
      url: '/graphql',
      remoteAddress: BALANCER,
      headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
      payload: { query: '{ __typename }' },
    });

  it.each([
    ['an IPv4 address', (port: number) => `203.0.113.5:${port}`, '203.0.113.6:1'],
    ['an IPv6 address', (port: number) => `[2001:db8:7:1::${port.toString(16)}]:${port}`, '[2001:db8:7:2::1]:1'],
  ])('counts %s as the client whatever port it comes from', async (_what, client, other) => {
    const statuses = [];
    for (let port = 40_000; port < 40_061; port++) statuses.push((await post(client(port))).statusCode);
    expect(statuses[0]).toBe(200);
    expect(statuses.at(-1)).toBe(429);
    expect((await post(other)).statusCode).toBe(200);
  });
});

describe('addressNetwork', () => {
  it('drops a port and the brackets around an IPv6 address', () => {
    expect(addressNetwork('203.0.113.5:8080')).toBe('203.0.113.5');
    expect(addressNetwork('[2001:db8:7:1::9]:8080')).toBe('2001:db8:7:1::/64');
    expect(addressNetwork('[2001:db8:7:1::9]')).toBe('2001:db8:7:1::/64');
    expect(addressNetwork('[::ffff:203.0.113.5]:1')).toBe('203.0.113.5');
  });

  it('keeps what is not an address as given', () => {
    expect(addressNetwork('unknown')).toBe('unknown');
    expect(addressNetwork('203.0.113.5:port')).toBe('203.0.113.5:port');
  });
});
