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

const NAT64 = ipaddr.IPv6.parseCIDR('64:ff9b::/96'); // RFC 6052 well-known prefix
const LOCAL_NAT64 = ipaddr.IPv6.parseCIDR('64:ff9b:1::/48'); // RFC 8215 local-use prefixes
const SIX_TO_FOUR = ipaddr.IPv6.parseCIDR('2002::/16'); // RFC 3056
const IPV4_TRANSLATED = ipaddr.IPv6.parseCIDR('::ffff:0:0:0/96'); // RFC 7915 (SIIT), ::ffff:0:a.b.c.d
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96'); // RFC 4291 §2.5.5.1, deprecated
const LOOPBACK_V6 = ipaddr.IPv6.parseCIDR('::1/128');

/**
 * The IPv4 address an IPv6 one carries, which a NAT64 gateway, a SIIT translator or a 6to4 relay
 * forwards to; undefined for one that carries none. A local-use NAT64 prefix is read as a /96,
 * the length translators use, its IPv4 address in the last 32 bits. `::1` is loopback, not
 * IPv4-compatible. IPv4-mapped addresses are not here: `ipaddr.process` has made them IPv4 already.
 */
function embeddedIPv4(ip: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const bytes = ip.toByteArray();
  const lastBits = [NAT64, LOCAL_NAT64, IPV4_TRANSLATED].some((prefix) => ip.match(prefix)) || (ip.match(IPV4_COMPATIBLE) && !ip.match(LOOPBACK_V6));
  if (lastBits) return new ipaddr.IPv4(bytes.slice(12));
  if (ip.match(SIX_TO_FOUR)) return new ipaddr.IPv4(bytes.slice(2, 6));
  return undefined;
}

function neverAllowed(ip: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return NEVER_ALLOWED.some(([network, bits]) => network.kind() === ip.kind() && ip.match(network, bits));
}

/**
 * @param allowedNetworks CIDR networks (`127.0.0.0/8`, `::1/128`) allowed whatever their range,
 *   NEVER_ALLOWED excepted, also as the IPv4 address a NAT64, 6to4 or IPv4-compatible address
 *   carries; parsed and validated by the configuration.
 * @throws Error for a network that is not CIDR (the configuration has checked them).
 */
export function createAddressPolicy(allowedNetworks: readonly string[]): AddressPolicy {
  // An IPv4-mapped network (::ffff:10.0.0.0/104) is the IPv4 network it maps, as addresses are.
  const allowed = allowedNetworks.map((network) => {
    const [address, bits] = ipaddr.parseCIDR(network);
    return address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress() && bits >= 96 ? ([address.toIPv4Address(), bits - 96] as const) : ([address, bits] as const);
  });
  return {
    allows(address) {
      if (!ipaddr.isValid(address)) return false;
      // IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it reaches.
      const ip = ipaddr.process(address);
      // NAT64 and 6to4 reach the IPv4 address inside, so an allowed network of them must not reach a metadata service.
      const inner = ip instanceof ipaddr.IPv6 ? embeddedIPv4(ip) : undefined;
      if (neverAllowed(ip) || (inner !== undefined && neverAllowed(inner))) return false;
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
