import { isIPv6 } from 'node:net';

/**
 * What a client address is counted under. An IPv6 address counts as its /64: that is the least a
 * provider gives one subscriber (RFC 6177), so one client holds 2^64 addresses and, counted one
 * by one, could rotate through them past every per-address limit. An IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`, as a dual-stack socket reports an IPv4 client) counts as its IPv4 address.
 * Anything else counts as given. Never throws.
 */
export function addressNetwork(address: string): string {
  const ip = address.replace(/%.*$/s, '');
  if (!isIPv6(ip)) return address;
  const groups = ipv6Groups(ip);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an address `isIPv6` accepted: `::` expanded, a dotted IPv4 tail as two groups. */
function ipv6Groups(ip: string): number[] {
  const parse = (part: string | undefined) =>
    !part
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head, tail] = ip.split('::');
  const left = parse(head);
  const right = parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}
