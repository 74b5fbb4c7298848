import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { createAddressPolicy } from '../../src/webhooks/address-policy.js';
import { graphql } from '../helpers/hub.js';
import { adminToken, startWebhookHub } from './webhook-hub.js';

/**
 * Networks an operator may well allow (a Tailscale tailnet is 100.64.0.0/10, a VPN or lab a
 * unique-local /16) that hold a cloud's metadata service, or the unspecified address, which a
 * socket takes for the hub's own host.
 */
const ALLOWED = ['100.64.0.0/10', 'fd00::/16', 'fd20::/16', '0.0.0.0/8', '192.0.0.0/24'];

describe('addresses no allowed network opens', () => {
  it('refuses cloud metadata services and the unspecified address even inside an allowed network, and allows the rest of it', () => {
    const policy = createAddressPolicy(ALLOWED);
    const refused = ['100.100.100.200', 'fd00:ec2::254', 'fd20:ce::254', '0.0.0.0', '0.1.2.3', '192.0.0.192', '::ffff:100.100.100.200', '::ffff:0.0.0.0'];
    expect(refused.filter((address) => policy.allows(address))).toEqual([]);
    expect(['100.64.0.1', '100.100.100.201', 'fd00:ec2::253', 'fd00::1', '192.0.0.8'].filter((address) => !policy.allows(address))).toEqual([]);
    expect(createAddressPolicy(['::/16']).allows('::')).toBe(false);
  });

  it('refuses them through NAT64, 6to4 and IPv4-compatible addresses inside an allowed network, and allows the rest of it', () => {
    const policy = createAddressPolicy(['64:ff9b:1::/96', '64:ff9b::/96', '2002:6464::/32', '::6464:0/112']);
    const refused = [
      '64:ff9b:1::a9fe:a9fe', // 169.254.169.254 through a local-use NAT64 prefix (RFC 8215)
      '64:ff9b::a9fe:a9fe',
      '64:ff9b::6464:64c8', // 100.100.100.200
      '64:ff9b::c000:c0', // 192.0.0.192
      '64:ff9b::1', // 0.0.0.1
      '64:ff9b::',
      '2002:6464:64c8::1', // 100.100.100.200 through 6to4 (RFC 3056)
      '::6464:64c8', // 100.100.100.200, IPv4-compatible
    ];
    expect(refused.filter((address) => policy.allows(address))).toEqual([]);
    expect(['64:ff9b:1::a00:1', '64:ff9b::808:808', '64:ff9b::6464:64c9', '2002:6464:64c9::1', '::6464:64c9'].filter((address) => !policy.allows(address))).toEqual([]);
  });

  it('still refuses by default the IPv6 forms that carry a public IPv4 address, and keeps ::1 apart from 0.0.0.1', () => {
    const policy = createAddressPolicy([]);
    expect(['64:ff9b::808:808', '64:ff9b:1::808:808', '2002:808:808::1', '::808:808'].filter((address) => policy.allows(address))).toEqual([]);
    expect(createAddressPolicy(['::1/128']).allows('::1')).toBe(true);
  });

  describe('at creation', () => {
    let hub: Hub;
    let admin: string;
    beforeAll(async () => {
      ({ hub } = await startWebhookHub({ HUB_WEBHOOK_ALLOWED_NETWORKS: ALLOWED.join(',') }));
      admin = await adminToken(hub);
    });
    afterAll(() => hub.close());

    it('refuses Alibaba Cloud’s and AWS’s metadata services although the configuration allows their networks', async () => {
      for (const url of ['http://100.100.100.200/latest/meta-data/', 'http://[fd00:ec2::254]/latest/meta-data/', 'http://0.0.0.0:4000/']) {
        const response = await graphql(
          hub,
          'mutation($input: CreateWebhookSubscriptionInput!) { createWebhookSubscription(input: $input) { subscription { id } } }',
          { token: admin, variables: { input: { url, eventTypes: ['consent.given'] } } },
        );
        expect(response.errors?.[0]?.extensions, url).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.url' });
      }
    });
  });
});
