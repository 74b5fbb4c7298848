import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';
import { networks, proxies } from './config.networks.js';
import {
  boolean,
  controllerEmail,
  controllerText,
  corsOrigins,
  encryptionKey,
  integer,
  issuerUrl,
  resourceUrl,
  listenHost,
  postalAddress,
  postgresUrl,
  type PostalAddress,
} from './config.values.js';

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
  /** The company running the hub, as every consent receipt names it. */
  readonly controller: Controller;
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
  /** Personal data exports (`/users/:id/export`) open at once on one instance, whoever holds them. */
  readonly maxDataExports: number;
  /** Client connections open at once on one instance; those past it are closed as they arrive. */
  readonly maxConnections: number;
  /** MiB of GraphQL answers an instance holds until their readers take them (`boundUnreadAnswers`). */
  readonly maxUnreadAnswersMib: number;
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
  /** Threads in libuv's pool (`UV_THREADPOOL_SIZE`, read as libuv reads it): webhook name lookups take at most half. */
  readonly threadPoolSize: number;
  /**
   * Browser origins (`https://app.example.com`) that may call the frontend endpoints (`/graphql`,
   * `/oauth/token`, `/oauth/revoke`, `/users/:id/export`) from another origin; empty: none.
   */
  readonly corsOrigins: readonly string[];
}

/**
 * The PII controller of Kantara CR v1.1 (`piiControllers`): who answers for the data and how a
 * person reaches them. The specification requires all of it, and so does production; elsewhere the
 * name defaults to the issuer's host and what is not set is left out of receipts, so a demo starts
 * with nothing to configure.
 */
export interface Controller {
  /** The company's name. */
  readonly name: string;
  /** Who to contact (a team or a role: "Data Protection Officer"). */
  readonly contact: string | undefined;
  readonly email: string | undefined;
  readonly phone: string | undefined;
  readonly address: PostalAddress | undefined;
}

/** The controller's details that production requires (Kantara CR v1.1 marks each MUST). */
const CONTROLLER_CONTACT = ['HUB_CONTROLLER_NAME', 'HUB_CONTROLLER_CONTACT', 'HUB_CONTROLLER_EMAIL', 'HUB_CONTROLLER_PHONE', 'HUB_CONTROLLER_ADDRESS'] as const;

/** Thrown for a bad environment; its message is one line naming the variable and the problem. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const MEMORY_DATA_DIR = 'memory://';

const optional = (value: string | undefined) => (value === undefined || value === '' ? undefined : value);

/** `HUB_ISSUER`, or its default on `PORT`. */
const issuerOf = (env: { HUB_ISSUER?: string | undefined; PORT: number }) => env.HUB_ISSUER ?? `http://localhost:${env.PORT}`;

/**
 * The `aud` of payment tokens (src/oauth/payment-token.ts): the commerce API under the issuer.
 * They are the hub's access tokens in every other respect (issuer, key, `typ`), so this is what
 * keeps each kind from passing for the other (RFC 8725 §3.12), and `HUB_AUDIENCE` may not be it.
 */
export const paymentsAudienceOf = (issuer: string) => `${issuer}/payments`;

const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: integer(1, 65535, 'a port number from 1 to 65535').default(4000),
    HOST: listenHost.default('127.0.0.1'),
    HUB_ISSUER: issuerUrl.optional(),
    HUB_AUDIENCE: resourceUrl.optional(),
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
    HUB_MAX_DATA_EXPORTS: integer(1, 100_000, 'a number of exports from 1 to 100000').default(100),
    HUB_MAX_CONNECTIONS: integer(1, 1_000_000, 'a number of connections from 1 to 1000000').default(1_000),
    HUB_MAX_UNREAD_ANSWERS_MIB: integer(1, 1_048_576, 'a number of MiB from 1 to 1048576').optional(),
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
    HUB_CONTROLLER_NAME: controllerText.optional(),
    HUB_CONTROLLER_CONTACT: controllerText.optional(),
    HUB_CONTROLLER_EMAIL: controllerEmail.optional(),
    HUB_CONTROLLER_PHONE: controllerText.optional(),
    HUB_CONTROLLER_ADDRESS: postalAddress.optional(),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production' && !env.HUB_KEY_ENCRYPTION_KEY) {
      ctx.addIssue({ code: 'custom', path: ['HUB_KEY_ENCRYPTION_KEY'], message: 'is required when NODE_ENV=production' });
    }
    if (env.NODE_ENV === 'production' && env.HUB_DEMO_DATA) {
      ctx.addIssue({ code: 'custom', path: ['HUB_DEMO_DATA'], message: 'must not be true when NODE_ENV=production: demo customers share a published password' });
    }
    for (const name of env.NODE_ENV === 'production' ? CONTROLLER_CONTACT : []) {
      if (!env[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'is required when NODE_ENV=production: every consent receipt names how to reach the controller (Kantara CR v1.1)' });
    }
    // RFC 8414 §2: tokens, receipts and the discovery document name the issuer, which the hub
    // cannot know behind its proxy; a production one is the https URL its clients reach.
    if (env.NODE_ENV === 'production' && !env.HUB_ISSUER?.startsWith('https://')) {
      ctx.addIssue({ code: 'custom', path: ['HUB_ISSUER'], message: 'must be set to an https URL when NODE_ENV=production (RFC 8414)' });
    }
    // A page served over plain http can be rewritten by anyone on its path, and a frontend's page
    // handles the user's tokens: production allows it only from the machine itself.
    const plainOrigin = env.NODE_ENV === 'production' ? env.HUB_CORS_ORIGINS?.find((origin) => origin.startsWith('http://') && !isLoopbackOrigin(origin)) : undefined;
    if (plainOrigin) {
      ctx.addIssue({ code: 'custom', path: ['HUB_CORS_ORIGINS'], message: `${plainOrigin} must be https when NODE_ENV=production: a page served over http can be rewritten on its way` });
    }
    if (env.NODE_ENV === 'production' && !env.DATABASE_URL && env.HUB_DATA_DIR === MEMORY_DATA_DIR) {
      ctx.addIssue({ code: 'custom', path: ['HUB_DATA_DIR'], message: `must not be ${MEMORY_DATA_DIR} when NODE_ENV=production without DATABASE_URL: consents, receipts and the audit trail would be gone at the next start` });
    }
    // A key made for one process could never again open the signing keys a server database keeps.
    if (env.DATABASE_URL && env.HUB_DATA_DIR === MEMORY_DATA_DIR && !env.HUB_KEY_ENCRYPTION_KEY) {
      ctx.addIssue({ code: 'custom', path: ['HUB_KEY_ENCRYPTION_KEY'], message: `is required with DATABASE_URL when HUB_DATA_DIR=${MEMORY_DATA_DIR}: there is nowhere to keep a generated one` });
    }
    const payments = paymentsAudienceOf(issuerOf(env));
    if (env.HUB_AUDIENCE === payments) {
      ctx.addIssue({ code: 'custom', path: ['HUB_AUDIENCE'], message: `must not be the audience of payment tokens (${payments}), or the hub would take them as its own access tokens` });
    }
    if (!env.HUB_BOOTSTRAP_CLIENT_ID !== !env.HUB_BOOTSTRAP_CLIENT_SECRET) {
      const missing = env.HUB_BOOTSTRAP_CLIENT_ID ? 'HUB_BOOTSTRAP_CLIENT_SECRET' : 'HUB_BOOTSTRAP_CLIENT_ID';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'must be set together with its pair' });
    }
  });

/**
 * The size of libuv's thread pool, read as libuv reads `UV_THREADPOOL_SIZE`: 4 when unset; else
 * its leading integer (`atoi`), 1 for none or 0, and at most 1,024 (a negative number, read
 * unsigned, too).
 */
function libuvThreadPoolSize(given: string | undefined): number {
  if (given === undefined) return 4;
  const size = Number.parseInt(given, 10) || 1;
  return size < 0 ? 1_024 : Math.min(size, 1_024);
}

/**
 * The bound on unread GraphQL answers when none is set: an eighth of the heap's limit, so that
 * answers waiting for slow readers fit beside everything else the hub holds however small the
 * heap was made (`--max-old-space-size`). Each unread byte is held about twice: in the answer's
 * text, and in the socket's copy of what the kernel has not taken.
 */
function defaultUnreadAnswersMib(): number {
  return Math.max(1, Math.floor(getHeapStatistics().heap_size_limit / 8 / 2 ** 20));
}

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
  const issuer = issuerOf(e);
  return Object.freeze({
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    issuer,
    audience: e.HUB_AUDIENCE ?? `${issuer}/graphql`,
    controller: Object.freeze({
      name: e.HUB_CONTROLLER_NAME ?? new URL(issuer).host,
      contact: e.HUB_CONTROLLER_CONTACT,
      email: e.HUB_CONTROLLER_EMAIL,
      phone: e.HUB_CONTROLLER_PHONE,
      address: e.HUB_CONTROLLER_ADDRESS && Object.freeze(e.HUB_CONTROLLER_ADDRESS),
    }),
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
    maxDataExports: e.HUB_MAX_DATA_EXPORTS,
    maxConnections: e.HUB_MAX_CONNECTIONS,
    maxUnreadAnswersMib: e.HUB_MAX_UNREAD_ANSWERS_MIB ?? defaultUnreadAnswersMib(),
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
    threadPoolSize: libuvThreadPoolSize(env.UV_THREADPOOL_SIZE),
    corsOrigins: Object.freeze(e.HUB_CORS_ORIGINS ?? []),
  });
}

/** Whether an origin is this machine's own (localhost or a loopback address), which no network path reaches. */
function isLoopbackOrigin(origin: string): boolean {
  const { hostname } = new URL(origin);
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
