import { isIP } from 'node:net';
import { z } from 'zod';
import { COUNTRY_CODES } from './shared/countries.js';
import { plainText } from './shared/input.js';
import { hasUserInfo } from './shared/url.js';

// The parsers of the environment's values, for src/config.ts: each refuses a bad value with a
// reason that reads after the variable's name (`PORT: must be a port number from 1 to 65535`).

export const integer = (min: number, max: number, what: string) =>
  z
    .string()
    // Digits enough for any bound here: a longer run would parse to Infinity, which zod words its own way.
    .regex(/^\d{1,15}$/, `must be ${what}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be ${what}`).max(max, `must be ${what}`));

/**
 * Whether a URL names no user, query or fragment; true for text that is no URL, which the check
 * before it refuses (zod runs every refinement, and `new URL` would throw on it).
 */
function hasNoUserQueryOrFragment(value: string): boolean {
  if (!URL.canParse(value)) return true;
  return !hasUserInfo(new URL(value)) && !/[?#]/.test(value);
}

/**
 * The issuer: an http(s) URL with no credentials, query, fragment or final "/" (RFC 8414 §2), since
 * every endpoint URL and the default audience are the issuer with a path appended.
 */
export const issuerUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .refine(hasNoUserQueryOrFragment, 'must be an http(s) URL without user, query or fragment (RFC 8414)')
  // Not stripped: it is every token's `iss` as written, and verifiers and RFC 8414 §3.3 compare
  // issuers exactly, so a configured `https://id.example/` would match none of them.
  .refine((value) => !value.endsWith('/'), 'must not end with "/": it is the iss of every token as written (RFC 8414 §3.3)');

/**
 * The API's identifier, every access token's `aud` and the `resource` of its RFC 9728 metadata,
 * which a client finds at the well-known URL built from it (§3.1) and must refuse when the two
 * differ (§3.3): an http(s) URL, as the issuer is.
 */
export const resourceUrl = z
  .string()
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), 'must be an http(s) URL')
  .refine(hasNoUserQueryOrFragment, 'must be an http(s) URL without user, query or fragment (RFC 9728)');

/**
 * A PostgreSQL server's URL, with its host before the path, or in `host=` as libpq writes a Unix
 * socket's directory (`postgresql:///hub?host=/var/run/postgresql`). Never without either: libpq
 * would take the socket, the driver `localhost`, so the hub might reach another server than psql.
 */
export const postgresUrl = z
  .string()
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && (url.hostname !== '' || !!url.searchParams.get('host'));
    } catch {
      return false;
    }
  }, 'must be a postgres://user@host:port/database URL (for a Unix socket, postgresql:///database?host=/var/run/postgresql)');

/**
 * 32 bytes as 64 hex digits, or as base64 in either alphabet with or without its one `=`: checked
 * whole, since Node's decoders skip what is not in their alphabet and would make a mistyped key
 * (`!!!!AAAA…`) a valid-looking one.
 */
export const encryptionKey = z.string().transform((value, ctx) => {
  const base64 = /^(?:[A-Za-z0-9+/]{43}|[A-Za-z0-9_-]{43})=?$/.test(value) ? value.replace(/=$/, '').replace(/\+/g, '-').replace(/\//g, '_') : undefined;
  const bytes = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : base64 !== undefined ? Buffer.from(base64, 'base64url') : undefined;
  // The 43rd digit carries 2 bits past the 32 bytes; they must be zero, so each key has one spelling.
  if (!bytes || bytes.length !== 32 || (base64 !== undefined && bytes.toString('base64url') !== base64)) {
    ctx.addIssue({ code: 'custom', message: 'must be 32 bytes, as 64 hex digits or base64' });
    return z.NEVER;
  }
  if (bytes.every((byte) => byte === 0)) {
    ctx.addIssue({ code: 'custom', message: 'must not be all zeros: generate one with `openssl rand -hex 32`' });
    return z.NEVER;
  }
  return bytes;
});

export const boolean = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/**
 * Where the server listens: an IP address as Node reads one (`::`, `0.0.0.0`, `fe80::1%eth0`), or a
 * host name (RFC 1123) whose last label is not all digits, so a mistyped address (`127.0.0.256`,
 * `127.1`) is refused here rather than looked up in DNS when the hub starts to listen.
 */
const hostName = z.hostname();

export const listenHost = z
  .string()
  .refine(
    (value) => isIP(value) !== 0 || (hostName.safeParse(value).success && !/(?:^|\.)\d+\.?$/.test(value)),
    'must be an IP address or a host name, such as 127.0.0.1, 0.0.0.0, :: or localhost (an IPv6 address without brackets)',
  );

/**
 * Browser origins allowed to call the frontend endpoints across origins, each exactly as a browser
 * sends it in `Origin` (RFC 6454): http(s), host and port, nothing else. A path, a trailing slash,
 * credentials or a wildcard are refused rather than trimmed, since a browser never sends them and
 * a list that silently matches nothing is a mistake found too late. `*` is refused too, although
 * the hub's tokens travel in the Authorization header and no cookie rides along: it would let any
 * page a customer visits call `signIn` and `signUp` from that customer's browser and address,
 * spreading a password-guessing run over many addresses past the per-address throttles, and reach
 * a hub that only an internal network was meant to see.
 */
export const corsOrigins = z.string().transform((value, ctx) => {
  const list: string[] = [];
  for (const item of value.split(',').map((part) => part.trim()).filter(Boolean)) {
    const problem = originProblem(item);
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', message: `${item.slice(0, 64)} ${problem}` });
      return z.NEVER;
    }
    list.push(new URL(item).origin);
  }
  if (list.length > 64) {
    ctx.addIssue({ code: 'custom', message: 'must list at most 64 origins' });
    return z.NEVER;
  }
  return [...new Set(list)];
});

function originProblem(item: string): string | undefined {
  if (item.includes('*')) return 'is a wildcard: list each origin, such as https://app.example.com';
  if (!/^https?:\/\/[^/?#@\\]+$/i.test(item) || !URL.canParse(item)) return 'is not an origin: http(s)://host[:port], with no path (not even a trailing /), query or credentials';
  return undefined;
}

/** A line of the controller's identity in consent receipts: printable text, at most 200 characters. */
export const controllerText = plainText(200);

/** The controller's email for privacy matters. */
export const controllerEmail = z.email({ error: 'must be an email address' }).max(254, 'must have at most 254 characters');

/** A property of the address: a string, else the reason says whether it is missing or of another type. */
const property = (max: number) => z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') }).pipe(plainText(max));

const POSTAL_ADDRESS = z.strictObject(
  {
    streetAddress: property(200),
    postalCode: property(20).optional(),
    addressLocality: property(200).optional(),
    addressRegion: property(200).optional(),
    addressCountry: property(2).refine((code) => COUNTRY_CODES.has(code), 'must be an ISO 3166-1 alpha-2 code'),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `has keys PostalAddress does not: ${issue.keys.join(', ')}` : 'must be a JSON object') },
);

/**
 * The controller's postal address as a JSON object of schema.org PostalAddress properties, the
 * form Kantara CR v1.1's `address` takes: `{"streetAddress": "…", "postalCode": "…",
 * "addressLocality": "…", "addressCountry": "DE"}`; no other keys, the street and country required.
 */
export const postalAddress = z.string().transform((value, ctx) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object such as {"streetAddress": "…", "addressCountry": "DE"}' });
    return z.NEVER;
  }
  const address = POSTAL_ADDRESS.safeParse(parsed);
  if (!address.success) {
    const issue = address.error.issues[0]!;
    ctx.addIssue({ code: 'custom', message: issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message });
    return z.NEVER;
  }
  return address.data;
});

export type PostalAddress = z.infer<typeof POSTAL_ADDRESS>;
