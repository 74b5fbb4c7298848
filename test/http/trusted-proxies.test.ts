import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { TEST_ENV, startTestHub } from '../helpers/hub.js';

// The per-address throttles count the client's address: behind a load balancer, the one that
// X-Forwarded-For names, and only when the balancer is trusted, else anyone could pick their own.

const BALANCER = '10.0.0.7';

/** Statuses of `count` anonymous token requests from `remoteAddress`, forwarded for `client`. */
async function throttled(hub: Hub, remoteAddress: string, client: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const response = await hub.http.inject({
      method: 'POST',
      url: '/oauth/token',
      remoteAddress,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': client },
      payload: 'grant_type=client_credentials',
    });
    statuses.push(response.statusCode);
  }
  return statuses;
}

describe('behind a trusted proxy', () => {
  let hub: Hub;
  beforeAll(async () => {
    hub = await startTestHub({ HUB_TOKEN_RATE_LIMIT: '1', HUB_TRUSTED_PROXIES: '10.0.0.0/24, ::1' });
  });
  afterAll(() => hub.close());

  it('throttles each forwarded client on its own', async () => {
    expect(await throttled(hub, BALANCER, '203.0.113.1', 2)).toEqual([401, 429]);
    expect(await throttled(hub, BALANCER, '203.0.113.2', 1)).toEqual([401]);
  });

  it('ignores the header from anyone else', async () => {
    expect(await throttled(hub, '198.51.100.9', '203.0.113.3', 2)).toEqual([401, 429]);
    expect(await throttled(hub, '198.51.100.9', '203.0.113.4', 1)).toEqual([429]);
  });
});

describe('with no trusted proxy', () => {
  let hub: Hub;
  beforeAll(async () => {
    hub = await startTestHub({ HUB_TOKEN_RATE_LIMIT: '1' });
  });
  afterAll(() => hub.close());

  it('counts the connection’s address, whatever the header says', async () => {
    expect(await throttled(hub, BALANCER, '203.0.113.1', 2)).toEqual([401, 429]);
    expect(await throttled(hub, BALANCER, '203.0.113.2', 1)).toEqual([429]);
  });
});

describe('HUB_TRUSTED_PROXIES', () => {
  it('takes addresses and CIDR networks', () => {
    expect(loadConfig({ ...TEST_ENV, HUB_TRUSTED_PROXIES: '10.0.0.0/8,192.168.1.10, fd00::/8' }).trustedProxies).toEqual(['10.0.0.0/8', '192.168.1.10', 'fd00::/8']);
  });

  it('refuses anything else', () => {
    expect(() => loadConfig({ ...TEST_ENV, HUB_TRUSTED_PROXIES: '10.0.0.0/8,balancer.internal' })).toThrow(
      new ConfigError('HUB_TRUSTED_PROXIES: balancer.internal is not an address or CIDR network such as 10.0.0.0/8'),
    );
  });

  it('refuses a network wider than /8, which would let clients name their own address', () => {
    for (const wide of ['0.0.0.0/0', '::/0', '8.0.0.0/7'])
      expect(() => loadConfig({ ...TEST_ENV, HUB_TRUSTED_PROXIES: `10.0.0.0/8,${wide}` })).toThrow(
        new ConfigError(`HUB_TRUSTED_PROXIES: ${wide} is wider than /8; list the load balancers' own networks`),
      );
  });

  it('measures an IPv4-mapped network as the IPv4 network it maps, since proxy-addr matches IPv4 peers against it', () => {
    for (const [wide, ipv4] of [['::ffff:0:0/96', '0.0.0.0/0'], ['::ffff:0:0/97', '0.0.0.0/1'], ['::ffff:10.0.0.0/103', '10.0.0.0/7']])
      expect(() => loadConfig({ ...TEST_ENV, HUB_TRUSTED_PROXIES: `10.0.0.0/8,${wide}` })).toThrow(
        new ConfigError(`HUB_TRUSTED_PROXIES: ${wide} is wider than /8 (IPv4-mapped, it is ${ipv4}); list the load balancers' own networks`),
      );
    expect(loadConfig({ ...TEST_ENV, HUB_TRUSTED_PROXIES: '::ffff:10.0.0.0/104' }).trustedProxies).toEqual(['::ffff:10.0.0.0/104']);
  });
});
