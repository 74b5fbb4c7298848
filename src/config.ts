import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

/**
 * The hub's configuration: the environment parsed and validated once into a typed, frozen object.
 * This is the only module that reads `process.env`; everything else receives a `Config`.
 */
export interface Config {
  readonly nodeEnv: 'development' | 'production' | 'test';
  readonly port: number;
  readonly host: string;
  /** `iss` of every token and base of the discovery documents. */
  readonly issuer: string;
  /** `aud` of every access token the hub issues and accepts. */
  readonly audience: string;
  /** A PostgreSQL server URL; unset means embedded PGlite under `dataDir`. */
  readonly databaseUrl: string | undefined;
  /** Where embedded PGlite keeps its files and where generated secrets live; `memory://` for none. */
  readonly dataDir: string;
  /** 32-byte key that encrypts signing keys at rest; generated into `dataDir` when absent outside production. */
  readonly keyEncryptionKey: Buffer | undefined;
  readonly bootstrapClient: { readonly id: string; readonly secret: string } | undefined;
  /** Lifetime of access tokens, in seconds. */
  readonly accessTokenTtl: number;
  /** Most agents a delegated token's `act` chain may hold; a longer chain is refused at exchange. */
  readonly maxDelegationDepth: number;
  /** Requests per second to the OAuth endpoints per client and address (per address without a secret), and the burst allowed. */
  readonly tokenRateLimit: number;
  /** GraphQL requests per second per caller (or per address when anonymous). */
  readonly graphqlRateLimit: number;
  /** How long the start waits for an unreachable database before giving up, in seconds. */
  readonly dbConnectTimeout: number;
  /** The longest one statement of the running hub may take on a PostgreSQL server, in seconds. */
  readonly statementTimeout: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Offer a small demo data set when the embedded database starts empty; never in production. */
  readonly demoData: boolean;
  /** Record every read of profile data in the audit trail; off only to measure what that costs. */
  readonly auditReads: boolean;
  /**
   * Networks (CIDR) that webhook URLs may reach although they are loopback, private, link-local or
   * otherwise not public; empty by default, so no webhook can be aimed inside the hub's network.
   */
  readonly webhookAllowedNetworks: readonly string[];
  /** Proxies (addresses or CIDR networks) whose X-Forwarded-For names the client; empty: none. */
  readonly trustedProxies: readonly string[];
  /** Run a webhook delivery worker in this instance. */
  readonly webhookWorker: boolean;
  /** Seconds a webhook delivery may take to connect, and again to answer. */
  readonly webhookTimeout: number;
  /** Seconds between a delivery worker's looks for due deliveries when no notification wakes it. */
  readonly webhookPollInterval: number;
  /**
   * Browser origins (`https://app.example.com`) that may call the frontend endpoints (`/graphql`,
   * `/oauth/token`, `/oauth/revoke`, `/users/:id/export`) from another origin; empty: none.
   */
  readonly corsOrigins: readonly string[];
}

/** Thrown for a bad environment; its message is one line naming the variable and the problem. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const MEMORY_DATA_DIR = 'memory://';

const optional = (value: string | undefined) => (value === undefined || value === '' ? undefined : value);

const integer = (min: number, max: number, what: string) =>
  z
    .string()
    .regex(/^\d+$/, `must be ${what}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be ${what}`).max(max, `must be ${what}`));

/**
 * The issuer: an http(s) URL with no credentials, query or fragment (RFC 8414 §2), since every
 * endpoint URL and the default audience are the issuer with a path appended.
 */
const issuerUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .refine((value) => {
    const url = new URL(value);
    return url.username === '' && url.password === '' && !/[?#]/.test(value);
  }, 'must be an http(s) URL without user, query or fragment (RFC 8414)')
  .transform((u) => u.replace(/\/+$/, ''));

const postgresUrl = z
  .string()
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be a postgres://user@host:port/database URL');

/**
 * 32 bytes as 64 hex digits, or as base64 in either alphabet with or without its one `=`: checked
 * whole, since Node's decoders skip what is not in their alphabet and would make a mistyped key
 * (`!!!!AAAA…`) a valid-looking one.
 */
const encryptionKey = z.string().transform((value, ctx) => {
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

/**
 * Link-local networks, where cloud metadata services answer (169.254.169.254), with the IPv6 forms
 * that carry 169.254.0.0/16 inside (IPv4-mapped, IPv4-compatible, NAT64, 6to4). No allowed network
 * may overlap them: a webhook could then fetch the instance's cloud credentials.
 */
const LINK_LOCAL = ['169.254.0.0/16', 'fe80::/10', '::ffff:169.254.0.0/112', '::169.254.0.0/112', '64:ff9b::169.254.0.0/112', '2002:a9fe::/32'].map((cidr) =>
  ipaddr.parseCIDR(cidr),
);

/** The widest allowed network by family: anything wider opens most of the address space at once. */
const MIN_PREFIX = { ipv4: 8, ipv6: 16 } as const;

/** True when two CIDR networks share an address: one of them contains the other's network address. */
function overlaps([a, aBits]: [ipaddr.IPv4 | ipaddr.IPv6, number], [b, bBits]: [ipaddr.IPv4 | ipaddr.IPv6, number]): boolean {
  if (a.kind() !== b.kind()) return false;
  return aBits <= bBits ? b.match(a, aBits) : a.match(b, bBits);
}

/**
 * A comma-separated list of CIDR networks, each normalized (`127.0.0.1/8` → `127.0.0.0/8`), none
 * wider than /8 (IPv4) or /16 (IPv6) and none overlapping a link-local network: the list switches
 * the webhook SSRF guard off for what it names, so it must name chosen networks, not everything.
 */
const networks = z.string().transform((value, ctx) => {
  const list: string[] = [];
  for (const item of value.split(',').map((part) => part.trim()).filter(Boolean)) {
    let cidr: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
      const [address, bits] = ipaddr.parseCIDR(item);
      cidr = [address.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(item) : ipaddr.IPv6.networkAddressFromCIDR(item), bits];
    } catch {
      ctx.addIssue({ code: 'custom', message: `${item.slice(0, 64)} is not a CIDR network such as 127.0.0.0/8 or ::1/128` });
      return z.NEVER;
    }
    const network = `${cidr[0].toString()}/${cidr[1]}`;
    const widest = MIN_PREFIX[cidr[0].kind()];
    if (cidr[1] < widest) {
      ctx.addIssue({ code: 'custom', message: `${network} is wider than /${widest}; list the networks webhooks need, such as 10.1.0.0/16` });
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

const boolean = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/**
 * The load balancers in front of the hub, as addresses or CIDR networks: only a request from one
 * of them has its client taken from X-Forwarded-For, so the per-address throttles (sign-in, the
 * OAuth endpoints, anonymous GraphQL) count clients, not the balancer; a client elsewhere cannot
 * pick its own address by sending the header. No network wider than /8 (10.0.0.0/8, fd00::/8).
 */
const PROXY_MIN_PREFIX = 8;

const proxies = z.string().transform((value, ctx) => {
  const list = value.split(',').map((part) => part.trim()).filter(Boolean);
  const bad = list.find((item) => !(ipaddr.isValid(item) || cidrOf(item)));
  if (bad !== undefined || list.length > 64) {
    ctx.addIssue({ code: 'custom', message: bad !== undefined ? `${bad.slice(0, 64)} is not an address or CIDR network such as 10.0.0.0/8` : 'must list at most 64 proxies' });
    return z.NEVER;
  }
  // A network as wide as 0.0.0.0/0 would let any client name its own address in the header.
  const wide = list.find((item) => {
    const cidr = cidrOf(item);
    return cidr !== undefined && cidr[1] < PROXY_MIN_PREFIX;
  });
  if (wide !== undefined) {
    ctx.addIssue({ code: 'custom', message: `${wide.slice(0, 64)} is wider than /${PROXY_MIN_PREFIX}; list the load balancers' own networks` });
    return z.NEVER;
  }
  return list;
});

function cidrOf(value: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  try {
    return ipaddr.parseCIDR(value);
  } catch {
    return undefined;
  }
}

/**
 * Where the server listens: an IP address as Node reads one (`::`, `0.0.0.0`, `fe80::1%eth0`), or a
 * host name (RFC 1123) whose last label is not all digits, so a mistyped address (`127.0.0.256`,
 * `127.1`) is refused here rather than looked up in DNS when the hub starts to listen.
 */
const hostName = z.hostname();

const listenHost = z
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
const corsOrigins = z.string().transform((value, ctx) => {
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

const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: integer(1, 65535, 'a port number from 1 to 65535').default(4000),
    HOST: listenHost.default('127.0.0.1'),
    HUB_ISSUER: issuerUrl.optional(),
    HUB_AUDIENCE: z.string().min(1, 'must not be empty').optional(),
    DATABASE_URL: postgresUrl.optional(),
    HUB_DATA_DIR: z.string().min(1).default('./.hub-data'),
    HUB_KEY_ENCRYPTION_KEY: encryptionKey.optional(),
    HUB_BOOTSTRAP_CLIENT_ID: z.string().regex(/^agt_[A-Za-z0-9_-]{4,64}$/, 'must look like agt_<4 to 64 of A-Z a-z 0-9 _ ->').optional(),
    HUB_BOOTSTRAP_CLIENT_SECRET: z
      .string()
      .min(32, 'must be at least 32 characters')
      .max(256, 'must be at most 256 characters')
      // RFC 6749 Appendix A: anything else could never be presented, in a form or in Basic.
      .regex(/^[\x20-\x7E]*$/, 'must be printable ASCII (RFC 6749 VSCHAR)')
      .optional(),
    HUB_ACCESS_TOKEN_TTL: integer(30, 86_400, 'a number of seconds from 30 to 86400').default(600),
    HUB_MAX_DELEGATION_DEPTH: integer(1, 8, 'a number from 1 to 8').default(3),
    HUB_TOKEN_RATE_LIMIT: integer(1, 1_000_000, 'a number of requests per second from 1 to 1000000').default(50),
    HUB_GRAPHQL_RATE_LIMIT: integer(1, 1_000_000, 'a number of requests per second from 1 to 1000000').default(100),
    HUB_DB_CONNECT_TIMEOUT: integer(0, 3_600, 'a number of seconds from 0 to 3600').default(30),
    HUB_STATEMENT_TIMEOUT: integer(1, 3_600, 'a number of seconds from 1 to 3600').default(30),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    HUB_DEMO_DATA: boolean.optional(),
    HUB_AUDIT_READS: boolean.default(true),
    HUB_WEBHOOK_ALLOWED_NETWORKS: networks.optional(),
    HUB_TRUSTED_PROXIES: proxies.optional(),
    HUB_WEBHOOK_WORKER: boolean.default(true),
    HUB_WEBHOOK_TIMEOUT: integer(1, 60, 'a number of seconds from 1 to 60').default(5),
    HUB_WEBHOOK_POLL_INTERVAL: integer(1, 3_600, 'a number of seconds from 1 to 3600').default(5),
    HUB_CORS_ORIGINS: corsOrigins.optional(),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production' && !env.HUB_KEY_ENCRYPTION_KEY) {
      ctx.addIssue({ code: 'custom', path: ['HUB_KEY_ENCRYPTION_KEY'], message: 'is required when NODE_ENV=production' });
    }
    if (env.NODE_ENV === 'production' && env.HUB_DEMO_DATA) {
      ctx.addIssue({ code: 'custom', path: ['HUB_DEMO_DATA'], message: 'must not be true when NODE_ENV=production: demo customers share a published password' });
    }
    if (!env.HUB_BOOTSTRAP_CLIENT_ID !== !env.HUB_BOOTSTRAP_CLIENT_SECRET) {
      const missing = env.HUB_BOOTSTRAP_CLIENT_ID ? 'HUB_BOOTSTRAP_CLIENT_SECRET' : 'HUB_BOOTSTRAP_CLIENT_ID';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'must be set together with its pair' });
    }
  });

/**
 * Parses the environment into a frozen Config.
 * @throws ConfigError with a one-line message for the first bad variable.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input = Object.fromEntries(Object.entries(env).map(([key, value]) => [key, optional(value)]));
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    const message = issue.code === 'invalid_value' ? `must be one of ${issue.values.join(', ')}` : issue.message;
    throw new ConfigError(`${variable}: ${message}`);
  }
  const e = parsed.data;
  const issuer = e.HUB_ISSUER ?? `http://localhost:${e.PORT}`;
  return Object.freeze({
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    issuer,
    audience: e.HUB_AUDIENCE ?? `${issuer}/graphql`,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.HUB_DATA_DIR,
    keyEncryptionKey: e.HUB_KEY_ENCRYPTION_KEY,
    bootstrapClient:
      e.HUB_BOOTSTRAP_CLIENT_ID && e.HUB_BOOTSTRAP_CLIENT_SECRET
        ? Object.freeze({ id: e.HUB_BOOTSTRAP_CLIENT_ID, secret: e.HUB_BOOTSTRAP_CLIENT_SECRET })
        : undefined,
    accessTokenTtl: e.HUB_ACCESS_TOKEN_TTL,
    maxDelegationDepth: e.HUB_MAX_DELEGATION_DEPTH,
    tokenRateLimit: e.HUB_TOKEN_RATE_LIMIT,
    graphqlRateLimit: e.HUB_GRAPHQL_RATE_LIMIT,
    dbConnectTimeout: e.HUB_DB_CONNECT_TIMEOUT,
    statementTimeout: e.HUB_STATEMENT_TIMEOUT,
    logLevel: e.LOG_LEVEL,
    demoData: e.HUB_DEMO_DATA ?? e.NODE_ENV !== 'production',
    auditReads: e.HUB_AUDIT_READS,
    webhookAllowedNetworks: Object.freeze(e.HUB_WEBHOOK_ALLOWED_NETWORKS ?? []),
    trustedProxies: Object.freeze(e.HUB_TRUSTED_PROXIES ?? []),
    webhookWorker: e.HUB_WEBHOOK_WORKER,
    webhookTimeout: e.HUB_WEBHOOK_TIMEOUT,
    webhookPollInterval: e.HUB_WEBHOOK_POLL_INTERVAL,
    corsOrigins: Object.freeze(e.HUB_CORS_ORIGINS ?? []),
  });
}
