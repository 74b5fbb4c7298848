import ipaddr from 'ipaddr.js';

/**
 * Which network addresses a webhook may be delivered to. Only global unicast addresses, by
 * default: never loopback, private (RFC 1918, IPv6 unique-local), link-local (where cloud metadata
 * services answer, 169.254.169.254 and fe80::/10), carrier-grade NAT (100.64.0.0/10, where some
 * clouds put theirs), multicast, broadcast, unspecified, reserved or documentation ranges, nor the
 * IPv6 forms that carry an IPv4 address inside (IPv4-mapped and -compatible, NAT64, 6to4, Teredo). Otherwise
 * a webhook URL would let whoever manages subscriptions make the hub send requests into its own
 * network (SSRF). An operator may allow some of these networks by configuration, never the
 * unspecified address nor a cloud metadata service in them.
 */
export interface AddressPolicy {
  /** True when a webhook may connect to this address (an IPv4 or IPv6 literal). Never throws. */
  allows(address: string): boolean;
}

/** The ipaddr.js range of public, routable unicast addresses: the only ones allowed by default. */
const PUBLIC_RANGE = 'unicast';

/**
 * IPv6 global unicast (RFC 4291): ipaddr.js calls `unicast` whatever it has no name for, such as
 * the deprecated IPv4-compatible `::a.b.c.d`, so IPv6 must lie here as well.
 */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/**
 * Refused whatever the allowed networks say. Cloud metadata services hand out the instance's
 * credentials, and some answer outside link-local, inside networks an operator may well allow: a
 * Tailscale tailnet is 100.64.0.0/10, where Alibaba Cloud's answers; a unique-local /16 may hold
 * AWS's or Google Cloud's IPv6 one. The unspecified address is no receiver: a socket connecting
 * to it reaches the hub's own host.
 */
const NEVER_ALLOWED = [
  '0.0.0.0/8', // unspecified ("this host")
  '169.254.0.0/16', // link-local: AWS, GCP, Azure, Oracle and most other clouds' metadata
  '100.100.100.200/32', // Alibaba Cloud metadata
  '192.0.0.192/32', // Oracle Cloud metadata
  '::/128', // unspecified
  'fe80::/10', // link-local
  'fd00:ec2::254/128', // AWS metadata over IPv6
  'fd20:ce::254/128', // Google Cloud metadata over IPv6
].map((cidr) => ipaddr.parseCIDR(cidr));

/**
 * @param allowedNetworks CIDR networks (`127.0.0.0/8`, `::1/128`) allowed whatever their range,
 *   NEVER_ALLOWED excepted; parsed and validated by the configuration.
 * @throws Error for a network that is not CIDR (the configuration has checked them).
 */
export function createAddressPolicy(allowedNetworks: readonly string[]): AddressPolicy {
  const allowed = allowedNetworks.map((network) => ipaddr.parseCIDR(network));
  return {
    allows(address) {
      if (!ipaddr.isValid(address)) return false;
      // IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it reaches.
      const ip = ipaddr.process(address);
      if (NEVER_ALLOWED.some(([network, bits]) => network.kind() === ip.kind() && ip.match(network, bits))) return false;
      if (allowed.some(([network, bits]) => network.kind() === ip.kind() && ip.match(network, bits))) return true;
      if (ip.range() !== PUBLIC_RANGE) return false;
      return ip.kind() === 'ipv4' || ip.match(GLOBAL_UNICAST_V6);
    },
  };
}

/** The address a URL's hostname spells, if it is an IP literal (`[::1]` without brackets); undefined for a name. */
export function ipLiteral(hostname: string): string | undefined {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return ipaddr.isValid(bare) && (ipaddr.IPv4.isValidFourPartDecimal(bare) || bare.includes(':')) ? bare : undefined;
}
