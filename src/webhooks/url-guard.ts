import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import pLimit from 'p-limit';
import { ipLiteral, type AddressPolicy } from './address-policy.js';

/** Resolves a host name to every address it has; `dns.lookup` (the system resolver) by default. */
export type Resolve = (hostname: string) => Promise<readonly { address: string; family: number }[]>;

/** Longest a name may take to resolve, its wait for a turn included, before the delivery (or the check) gives up. */
const RESOLVE_TIMEOUT_MS = 5_000;

/**
 * Most lookups of webhook hosts running at once: half of libuv's thread pool, at least one.
 * `dns.lookup` blocks a thread of that pool for as long as the system resolver takes, timeouts
 * and retries included, and the same pool hashes passwords (argon2) and runs async crypto: a
 * subscriber's host whose name server answers slowly must not stall sign-in for everyone.
 * @param threadPoolSize the pool's size (`Config.threadPoolSize`).
 */
export const lookupsAtOnce = (threadPoolSize: number): number => Math.max(1, Math.floor(threadPoolSize / 2));

/**
 * `resolve` with at most `concurrency` lookups running at once, the others waiting their turn. A
 * lookup keeps its turn until it settles, even after its caller stopped waiting: the thread it
 * blocks is busy until then. One that waited `waitMs` for its turn (its caller gave up by then,
 * RESOLVE_TIMEOUT_MS) is skipped, so a stalled name server does not leave a backlog behind.
 * Concurrent lookups of one name share a turn.
 */
export function limitLookups(resolve: Resolve, concurrency: number, waitMs = RESOLVE_TIMEOUT_MS): Resolve {
  const limit = pLimit(concurrency);
  // A name already waiting or resolving is not looked up again beside itself: the callers share
  // its lookup, so a subscriber whose name server is slow (its attempts in flight, retries, an
  // update's check) holds one turn, never all of them, and other hosts still resolve.
  const pending = new Map<string, ReturnType<Resolve>>();
  return (hostname) => {
    const shared = pending.get(hostname);
    if (shared) return shared;
    const queued = performance.now();
    const lookup = limit(() => (performance.now() - queued >= waitMs ? Promise.reject(new Error(`${hostname} waited too long to resolve`)) : resolve(hostname))).finally(() =>
      pending.delete(hostname),
    );
    pending.set(hostname, lookup);
    return lookup;
  };
}

/** The system resolver, at most `lookupsAtOnce` of a pool of this size at once. Make one per process: the limit is its own. */
export const systemResolve = (threadPoolSize: number): Resolve =>
  limitLookups((hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true }), lookupsAtOnce(threadPoolSize));

/**
 * The ports the Fetch Standard blocks for http(s) (https://fetch.spec.whatwg.org/#bad-port): those
 * of services (SMTP, IRC, SIP, LDAP, ...) that could read a request as commands of their own
 * protocol, a cross-protocol attack. Browsers and undici's `fetch` refuse them too.
 */
const BAD_PORTS = new Set([
  0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117,
  119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636,
  989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** True when a URL names a port the Fetch Standard blocks (see BAD_PORTS); a URL without a port uses its scheme's, never blocked. */
export function hasBadPort(url: URL): boolean {
  return url.port !== '' && BAD_PORTS.has(Number(url.port));
}

/**
 * A webhook target the address policy refuses. The message names only what the caller gave (the
 * host name, or the IP literal), never an address a name resolved to: the subscriber would
 * otherwise learn the hub's internal DNS, name by name, from its refusals and delivery log.
 */
export class RefusedAddressError extends Error {
  override name = 'RefusedAddressError';
  readonly code = 'WEBHOOK_ADDRESS_REFUSED';
}

/**
 * The addresses a host name resolves to, every one of them allowed by the policy: a name with one
 * refused address among allowed ones is refused whole, since the connection could go to any.
 * @throws RefusedAddressError for a refused address; Error when the name does not resolve in time.
 */
async function resolveAllowed(hostname: string, policy: AddressPolicy, resolve: Resolve): Promise<{ address: string; family: number }[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${hostname} did not resolve within ${RESOLVE_TIMEOUT_MS / 1_000} s`)), RESOLVE_TIMEOUT_MS);
  });
  const addresses = await Promise.race([resolve(hostname), timeout]).finally(() => clearTimeout(timer));
  if (addresses.length === 0) throw new Error(`${hostname} resolves to no address`);
  const refused = addresses.find((entry) => !policy.allows(entry.address));
  if (refused) throw new RefusedAddressError(`${hostname} resolves to an address that is not public`);
  return addresses.map(({ address, family }) => ({ address, family }));
}

/**
 * Checks that a webhook URL's host is allowed: an IP literal at once, a name by resolving it now.
 * A name may later resolve elsewhere, so every delivery checks again (see `guardedLookup`).
 * @throws RefusedAddressError, or Error when the name does not resolve.
 */
export async function checkTarget(url: URL, policy: AddressPolicy, resolve: Resolve): Promise<void> {
  const literal = ipLiteral(url.hostname);
  if (literal !== undefined) {
    if (!policy.allows(literal)) throw new RefusedAddressError(`${literal} is not a public address`);
    return;
  }
  await resolveAllowed(url.hostname, policy, resolve);
}

/**
 * A `lookup` for sockets: resolves the name, refuses it unless every address is allowed, and
 * hands the socket exactly the addresses it checked. The connection therefore goes to a checked
 * address, and a name that resolves to a public address for the check and to a private one a
 * moment later (DNS rebinding) cannot switch it. IP literals never reach a lookup: the sender
 * checks those itself.
 */
export function guardedLookup(policy: AddressPolicy, resolve: Resolve): LookupFunction {
  return (hostname, options, callback) => {
    resolveAllowed(hostname, policy, resolve).then(
      (addresses) => {
        const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
        if (wanted.length === 0) return callback(Object.assign(new Error(`${hostname} has no IPv${options.family} address`), { code: 'ENOTFOUND' }), '', 0);
        if (options.all) return (callback as unknown as (error: null, all: typeof wanted) => void)(null, wanted);
        callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (error: Error) => callback(error as NodeJS.ErrnoException, '', 0),
    );
  };
}
