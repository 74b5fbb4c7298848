import ipaddr from 'ipaddr.js';

/**
 * What a client address is counted under. An IPv6 address counts as its /64: that is the least a
 * provider gives one subscriber (RFC 6177), so one client holds 2^64 addresses and, counted one
 * by one, could rotate through them past every per-address limit. An IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`, as a dual-stack socket reports an IPv4 client) counts as its IPv4 address.
 * Anything else counts as given. Never throws.
 */
export function addressNetwork(address: string): string {
  const ip = address.replace(/%.*$/s, '');
  if (!ipaddr.IPv6.isValid(ip)) return address;
  const parsed = ipaddr.IPv6.parse(ip);
  if (parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().toString();
  return `${parsed.parts.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}
