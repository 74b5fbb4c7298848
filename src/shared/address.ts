import ipaddr from 'ipaddr.js';

/**
 * An address as some load balancers forward it, with the client's source port (`192.0.2.1:50123`,
 * `[2001:db8::1]:50123`) or in brackets: the port changes with every connection the client opens.
 */
const WITH_PORT = /^(?:\[(?<v6>[^\]]+)\](?::\d{1,5})?|(?<v4>\d{1,3}(?:\.\d{1,3}){3}):\d{1,5})$/;

/**
 * What a client address is counted under. An IPv6 address counts as its /64: that is the least a
 * provider gives one subscriber (RFC 6177), so one client holds 2^64 addresses and, counted one
 * by one, could rotate through them past every per-address limit. An IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`, as a dual-stack socket reports an IPv4 client) counts as its IPv4 address.
 * A source port or brackets around the address are dropped (`WITH_PORT`), else a client would
 * count anew with every connection. Anything else counts as given. Never throws.
 */
export function addressNetwork(address: string): string {
  const bare = WITH_PORT.exec(address)?.groups;
  const ip = (bare?.v6 ?? bare?.v4 ?? address).replace(/%.*$/s, '');
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return ip;
  if (!ipaddr.IPv6.isValid(ip)) return address;
  const parsed = ipaddr.IPv6.parse(ip);
  if (parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().toString();
  return `${parsed.parts.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}
