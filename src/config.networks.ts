import ipaddr from 'ipaddr.js';
import { z } from 'zod';

// The address lists of the configuration: the networks webhooks may reach although not public, and
// the load balancers whose X-Forwarded-For names the client.

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * Link-local networks, where cloud metadata services answer (169.254.169.254), with the IPv6 forms
 * that carry 169.254.0.0/16 inside (IPv4-mapped, IPv4-compatible, NAT64 with the well-known and a
 * local-use /96 prefix, 6to4). No allowed network may overlap them: a webhook could then fetch the
 * instance's cloud credentials. The IPv4-compatible one is written in hex: ipaddr.js reads
 * `::169.254.0.0` as the IPv4-mapped `::ffff:169.254.0.0`.
 */
const LINK_LOCAL = [
  '169.254.0.0/16',
  'fe80::/10',
  '::ffff:169.254.0.0/112',
  '::a9fe:0/112',
  '64:ff9b::169.254.0.0/112',
  '64:ff9b:1::169.254.0.0/112',
  '2002:a9fe::/32',
  '::ffff:0:169.254.0.0/112',
].map((cidr) => ipaddr.parseCIDR(cidr));

/** The widest allowed network by family: anything wider opens most of the address space at once. */
const MIN_PREFIX = { ipv4: 8, ipv6: 16 } as const;

/**
 * Why a CIDR network is wider than the widest allowed for its family (`is wider than /8`), or
 * undefined. A network within ::ffff:0:0/96 is measured as the IPv4 network it maps, of `bits - 96`:
 * it names IPv4 addresses (proxy-addr matches IPv4 peers against it), and `::ffff:0:0/96`, all of
 * them, would otherwise pass as a narrow IPv6 network.
 */
function tooWide([address, bits]: Cidr, widest: { readonly ipv4: number; readonly ipv6: number }): string | undefined {
  if (bits < widest[address.kind()]) return `is wider than /${widest[address.kind()]}`;
  if (!(address instanceof ipaddr.IPv6) || bits < 96 || !address.isIPv4MappedAddress() || bits - 96 >= widest.ipv4) return undefined;
  const mapped = ipaddr.IPv4.networkAddressFromCIDR(`${address.toIPv4Address().toString()}/${bits - 96}`);
  return `is wider than /${widest.ipv4} (IPv4-mapped, it is ${mapped.toString()}/${bits - 96})`;
}

/** True when two CIDR networks share an address: one of them contains the other's network address. */
function overlaps([a, aBits]: Cidr, [b, bBits]: Cidr): boolean {
  if (a.kind() !== b.kind()) return false;
  return aBits <= bBits ? b.match(a, aBits) : a.match(b, bBits);
}

/**
 * An IPv4 address after `::` alone (`::10.0.0.1`) is, by RFC 4291 §2.5.5.1, the deprecated
 * IPv4-compatible ::a00:1, but ipaddr.js (and so proxy-addr) reads it as the IPv4-mapped
 * ::ffff:a00:1. Refused, so that neither list means other than what its standard says.
 */
function ipv4Compatible(item: string): string | undefined {
  const match = /^::(\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,3})?)$/.exec(item);
  return match ? `${item} is the deprecated IPv4-compatible notation; write ::ffff:${match[1]} for IPv4 addresses` : undefined;
}

/**
 * A comma-separated list of CIDR networks, each normalized (`127.0.0.1/8` → `127.0.0.0/8`), none
 * wider than /8 (IPv4, IPv4-mapped included) or /16 (IPv6) and none overlapping a link-local
 * network: the list switches the webhook SSRF guard off for what it names, so it must name chosen
 * networks, not everything.
 */
export const networks = z.string().transform((value, ctx) => {
  const list: string[] = [];
  for (const item of value.split(',').map((part) => part.trim()).filter(Boolean)) {
    const compatible = ipv4Compatible(item);
    if (compatible !== undefined) {
      ctx.addIssue({ code: 'custom', message: compatible });
      return z.NEVER;
    }
    let cidr: Cidr;
    try {
      const [address, bits] = ipaddr.parseCIDR(item);
      cidr = [address.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(item) : ipaddr.IPv6.networkAddressFromCIDR(item), bits];
    } catch {
      ctx.addIssue({ code: 'custom', message: `${item.slice(0, 64)} is not a CIDR network such as 127.0.0.0/8 or ::1/128` });
      return z.NEVER;
    }
    const network = `${cidr[0].toString()}/${cidr[1]}`;
    const wide = tooWide(cidr, MIN_PREFIX);
    if (wide !== undefined) {
      ctx.addIssue({ code: 'custom', message: `${network} ${wide}; list the networks webhooks need, such as 10.1.0.0/16` });
      return z.NEVER;
    }
    if (LINK_LOCAL.some((linkLocal) => overlaps(cidr, linkLocal))) {
      ctx.addIssue({ code: 'custom', message: `${network} includes link-local addresses (169.254.0.0/16, fe80::/10), where cloud metadata services answer; they cannot be allowed` });
      return z.NEVER;
    }
    list.push(network);
  }
  if (list.length > 64) {
    ctx.addIssue({ code: 'custom', message: 'must list at most 64 networks' });
    return z.NEVER;
  }
  return list;
});

/**
 * The load balancers in front of the hub, as addresses or CIDR networks: only a request from one
 * of them has its client taken from X-Forwarded-For, so the per-address throttles (sign-in, the
 * OAuth endpoints, anonymous GraphQL) count clients, not the balancer; a client elsewhere cannot
 * pick its own address by sending the header. No network wider than /8 (10.0.0.0/8, fd00::/8), an
 * IPv4-mapped one measured as the IPv4 network it maps.
 */
const PROXY_MIN_PREFIX = { ipv4: 8, ipv6: 8 } as const;

export const proxies = z.string().transform((value, ctx) => {
  const list = value.split(',').map((part) => part.trim()).filter(Boolean);
  const bad = list.find((item) => !(ipaddr.isValid(item) || cidrOf(item)));
  if (bad !== undefined || list.length > 64) {
    ctx.addIssue({ code: 'custom', message: bad !== undefined ? `${bad.slice(0, 64)} is not an address or CIDR network such as 10.0.0.0/8` : 'must list at most 64 proxies' });
    return z.NEVER;
  }
  // A network as wide as 0.0.0.0/0 would let any client name its own address in the header.
  for (const item of list) {
    const compatible = ipv4Compatible(item);
    if (compatible !== undefined) {
      ctx.addIssue({ code: 'custom', message: compatible });
      return z.NEVER;
    }
    const cidr = cidrOf(item);
    const wide = cidr === undefined ? undefined : tooWide(cidr, PROXY_MIN_PREFIX);
    if (wide !== undefined) {
      ctx.addIssue({ code: 'custom', message: `${item.slice(0, 64)} ${wide}; list the load balancers' own networks` });
      return z.NEVER;
    }
  }
  return list;
});

function cidrOf(value: string): Cidr | undefined {
  try {
    return ipaddr.parseCIDR(value);
  } catch {
    return undefined;
  }
}
