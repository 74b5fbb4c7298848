import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createAddressPolicy } from '../../src/webhooks/address-policy.js';
import { guardedLookup, hasBadPort, limitLookups, lookupsAtOnce, RefusedAddressError, systemResolve, type Resolve } from '../../src/webhooks/url-guard.js';
import { createWebhookSender } from '../../src/webhooks/webhook-sender.js';
import { graphql, TEST_ENV } from '../helpers/hub.js';
import { adminToken, startWebhookHub } from './webhook-hub.js';

const REFUSED = [
  '127.0.0.1', '127.255.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '100.100.100.200',
  '0.0.0.0', '224.0.0.1', '255.255.255.255', '192.0.2.1', '198.18.0.1', '::1', '::', 'fe80::1', 'fc00::1', 'fd00:ec2::254',
  'ff02::1', '::2', '::7f00:1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '64:ff9b::a00:1', '2002:a00:1::', '2001::1', '2001:db8::1',
];
const PUBLIC = ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8'];

describe('the webhook address policy', () => {
  it('refuses loopback, private, link-local, CGNAT, multicast, unspecified, reserved and metadata addresses, IPv4-mapped ones included', () => {
    const policy = createAddressPolicy([]);
    expect(REFUSED.filter((address) => policy.allows(address))).toEqual([]);
    expect(PUBLIC.filter((address) => !policy.allows(address))).toEqual([]);
    expect(policy.allows('not-an-address')).toBe(false);
  });

  it('allows exactly the networks an operator lists, IPv4-mapped IPv6 judged as IPv4', () => {
    const policy = createAddressPolicy(['127.0.0.0/8', '::1/128']);
    expect(['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1'].every((a) => policy.allows(a))).toBe(true);
    expect(['10.0.0.1', '169.254.169.254', '::2', 'fe80::1'].some((a) => policy.allows(a))).toBe(false);
  });

  it('judges an IPv4-mapped allowed network as the IPv4 network it maps', () => {
    const networks = loadConfig({ ...TEST_ENV, HUB_WEBHOOK_ALLOWED_NETWORKS: '::ffff:10.0.0.0/104' }).webhookAllowedNetworks;
    const policy = createAddressPolicy(networks);
    expect(['10.0.0.5', '10.255.1.1', '::ffff:10.0.0.5'].filter((a) => !policy.allows(a))).toEqual([]);
    expect(['172.16.0.1', '127.0.0.1', '::ffff:127.0.0.1'].filter((a) => policy.allows(a))).toEqual([]);
  });

  it('refuses metadata and unspecified addresses in their IPv4-translated form (SIIT, ::ffff:0:a.b.c.d), whatever network allows it', () => {
    expect(() => loadConfig({ ...TEST_ENV, HUB_WEBHOOK_ALLOWED_NETWORKS: '::ffff:0:0:0/96' })).toThrow(/includes link-local addresses/);
    const policy = createAddressPolicy(['::ffff:0:0:0/96']);
    // 169.254.169.254, 100.100.100.200, 0.0.0.0; a public address so carried stays allowed.
    expect(['::ffff:0:a9fe:a9fe', '::ffff:0:6464:64c8', '::ffff:0:0:0'].filter((a) => policy.allows(a))).toEqual([]);
    expect(policy.allows('::ffff:0:808:808')).toBe(true);
  });

  it('blocks port 0 with the rest of the Fetch Standard\'s bad ports', () => {
    expect(['http://127.0.0.1:0/hooks', 'https://hooks.example:0/', 'http://x.example:25/'].map((url) => hasBadPort(new URL(url)))).toEqual([true, true, true]);
    expect(hasBadPort(new URL('http://x.example:8080/'))).toBe(false);
  });

  it('leaves half of libuv\'s thread pool to argon2 and crypto, as UV_THREADPOOL_SIZE sizes it', () => {
    const lookupsFor = (env: Record<string, string>) => lookupsAtOnce(loadConfig({ ...TEST_ENV, ...env }).threadPoolSize);
    expect(lookupsFor({})).toBe(2);
    expect(lookupsFor({ UV_THREADPOOL_SIZE: '16' })).toBe(8);
    expect(lookupsFor({ UV_THREADPOOL_SIZE: '3' })).toBe(1);
    expect(lookupsFor({ UV_THREADPOOL_SIZE: '0' })).toBe(1);
    expect(lookupsFor({ UV_THREADPOOL_SIZE: '100000' })).toBe(512);
    expect(lookupsFor({ UV_THREADPOOL_SIZE: 'many' })).toBe(1);
    expect(lookupsFor({ UV_THREADPOOL_SIZE: '-1' })).toBe(512);
  });

  it('resolves at most its limit of names at once, a lookup its caller gave up on keeping its turn until it settles', async () => {
    const started: string[] = [];
    const settle = new Map<string, () => void>();
    const slow: Resolve = (host) =>
      new Promise((resolve) => {
        started.push(host);
        settle.set(host, () => resolve([{ address: '8.8.8.8', family: 4 }]));
      });
    const limited = limitLookups(slow, 2);
    const gaveUp = Promise.race([limited('hung.example'), new Promise((resolve) => setTimeout(() => resolve('gave up'), 20))]);
    const others = ['a.example', 'b.example', 'c.example'].map((host) => limited(host));
    expect(await gaveUp).toBe('gave up');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(started).toEqual(['hung.example', 'a.example']);
    settle.get('a.example')!();
    await expect.poll(() => started).toEqual(['hung.example', 'a.example', 'b.example']);
    settle.get('hung.example')!();
    await expect.poll(() => started).toEqual(['hung.example', 'a.example', 'b.example', 'c.example']);
    settle.get('b.example')!();
    settle.get('c.example')!();
    expect(await Promise.all(others)).toEqual([1, 2, 3].map(() => [{ address: '8.8.8.8', family: 4 }]));

    // One that waited past its caller's patience is skipped, not resolved for no one.
    const impatient = limitLookups(slow, 1, 30);
    const first = impatient('first.example');
    const stale = impatient('stale.example');
    await new Promise((resolve) => setTimeout(resolve, 40));
    settle.get('first.example')!();
    await first;
    await expect(stale).rejects.toThrow(/waited too long/);
    expect(started).not.toContain('stale.example');
  });

  it('makes the socket lookup refuse a name with any refused address, and hand over only checked addresses', async () => {
    const policy = createAddressPolicy([]);
    const answers: Record<string, { address: string; family: number }[]> = {
      'rebound.example': [{ address: '10.0.0.7', family: 4 }],
      'mixed.example': [{ address: '8.8.8.8', family: 4 }, { address: '::1', family: 6 }],
      'public.example': [{ address: '8.8.4.4', family: 4 }, { address: '2001:4860:4860::8844', family: 6 }],
    };
    const resolve: Resolve = async (host) => answers[host] ?? [];
    const lookup = (host: string, options: { all?: boolean; family?: number }) =>
      new Promise((resolvePromise, reject) =>
        guardedLookup(policy, resolve)(host, options as never, ((error: Error | null, address: unknown, family?: number) =>
          error ? reject(error) : resolvePromise(options.all ? address : { address, family })) as never),
      );
    await expect(lookup('rebound.example', {})).rejects.toBeInstanceOf(RefusedAddressError);
    await expect(lookup('mixed.example', { all: true })).rejects.toThrow(/^mixed\.example resolves to an address that is not public$/);
    await expect(lookup('nowhere.example', {})).rejects.toThrow(/resolves to no address/);
    await expect(lookup('public.example', { all: true })).resolves.toEqual(answers['public.example']);
    await expect(lookup('public.example', { family: 6 })).resolves.toEqual({ address: '2001:4860:4860::8844', family: 6 });
  });

  it('hands the socket the addresses it checked, from one resolution, so a name that rebinds right after the check cannot switch it', async () => {
    const answers = [[{ address: '8.8.8.8', family: 4 }], [{ address: '10.0.0.7', family: 4 }]];
    let resolutions = 0;
    const rebinding: Resolve = async () => answers[Math.min(resolutions++, 1)]!;
    const connectTo = await new Promise((resolve, reject) =>
      guardedLookup(createAddressPolicy([]), rebinding)('rebinding.example', {} as never, ((error: Error | null, address: string) => (error ? reject(error) : resolve(address))) as never),
    );
    expect(connectTo).toBe('8.8.8.8');
    expect(resolutions).toBe(1);
  });
});

describe('the webhook sender', () => {
  it('refuses a port the Fetch Standard blocks before it connects, as it refuses a private address', async () => {
    const sender = createWebhookSender({ policy: createAddressPolicy(['127.0.0.0/8']), resolve: systemResolve(4), timeoutSeconds: 1 });
    try {
      const attempt = (url: string) => sender.send({ url, headers: { 'content-type': 'application/json' }, body: '{}' });
      // A subscription stored before its port was blocked, or written to the table by hand.
      for (const port of [25, 6667, 5060]) {
        expect(await attempt(`http://127.0.0.1:${port}/hook`)).toEqual({ statusCode: null, retryAfter: undefined, error: `port ${port} is blocked (Fetch Standard)`, durationMs: 0 });
      }
      expect((await attempt('http://10.0.0.1:8080/hook')).error).toBe('10.0.0.1 is not an allowed target');
    } finally {
      await sender.close();
    }
  });
});

describe('webhook URLs at creation and update', () => {
  let strict: Hub;
  let open: Hub;
  let strictAdmin: string;
  let openAdmin: string;
  beforeAll(async () => {
    ({ hub: strict } = await startWebhookHub({ HUB_WEBHOOK_ALLOWED_NETWORKS: '' }));
    ({ hub: open } = await startWebhookHub({ HUB_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128' }));
    [strictAdmin, openAdmin] = await Promise.all([adminToken(strict), adminToken(open)]);
  });
  afterAll(() => Promise.all([strict.close(), open.close()]));

  const create = (hub: Hub, token: string, url: string) =>
    graphql<{ createWebhookSubscription: { subscription: { id: string; url: string } } }>(
      hub,
      'mutation($input: CreateWebhookSubscriptionInput!) { createWebhookSubscription(input: $input) { subscription { id url } } }',
      { token, variables: { input: { url, eventTypes: ['consent.given'] } } },
    );

  it('refuses a URL whose host is, or resolves to, a private, loopback, link-local or metadata address', async () => {
    const urls = [
      'http://127.0.0.1:8080/hooks',
      'http://10.1.2.3/hooks',
      'http://192.168.0.10/hooks',
      'http://169.254.169.254/latest/meta-data/',
      'http://100.100.100.200/',
      'http://[::1]/hooks',
      'http://[::ffff:127.0.0.1]/hooks',
      'http://[::ffff:a9fe:a9fe]/hooks',
      'http://[fe80::1]/hooks',
      'http://[fd00:ec2::254]/',
      'http://0x7f000001/hooks',
      'http://0.0.0.0:4000/',
      'https://localhost:8443/hooks',
    ];
    for (const url of urls) {
      const response = await create(strict, strictAdmin, url);
      expect(response.errors?.[0]?.extensions, url).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.url' });
      expect(response.errors![0]!.message).toMatch(/not (a )?public.*HUB_WEBHOOK_ALLOWED_NETWORKS/);
    }
    // A name's refusal names the name, not what it resolved to: no map of the internal DNS.
    const named = await create(strict, strictAdmin, 'https://localhost:8443/hooks');
    expect(named.errors![0]!.message).toMatch(/^input\.url: localhost resolves to an address that is not public; /);
    expect(named.errors![0]!.message).not.toMatch(/127\.0\.0\.1|::1/);
    const count = await strict.services.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).where('action', '=', 'webhook.created').executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(0);
  });

  it('allows loopback when the configuration lists it, and still refuses the rest', async () => {
    for (const url of ['http://127.0.0.1:8080/hooks', 'http://[::1]:8080/hooks', 'http://localhost:8080/hooks', 'http://[::ffff:127.0.0.1]/x']) {
      const response = await create(open, openAdmin, url);
      expect(response.errors, url).toBeUndefined();
    }
    const refused = await create(open, openAdmin, 'http://10.1.2.3/hooks');
    expect(refused.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.url' });
  });

  it('checks the URL of an update the same way, leaving the subscription as it was', async () => {
    const created = await create(open, openAdmin, 'http://127.0.0.1:8080/kept');
    const id = created.data!.createWebhookSubscription.subscription.id;
    const update = await graphql(open, 'mutation($id: ID!) { updateWebhookSubscription(id: $id, input: { url: "http://169.254.169.254/" }) { url } }', {
      token: openAdmin,
      variables: { id },
    });
    expect(update.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.url' });
    const now = await graphql<{ webhookSubscription: { url: string } }>(open, 'query($id: ID!) { webhookSubscription(id: $id) { url } }', { token: openAdmin, variables: { id } });
    expect(now.data!.webhookSubscription.url).toBe('http://127.0.0.1:8080/kept');
  });
});
