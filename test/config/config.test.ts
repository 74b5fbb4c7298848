import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { PRODUCTION_ENV } from '../helpers/hub.js';
import { runNode } from '../helpers/run-node.js';

const HOST_MESSAGE = 'must be an IP address or a host name, such as 127.0.0.1, 0.0.0.0, :: or localhost (an IPv6 address without brackets)';

describe('loadConfig', () => {
  it('gives the documented defaults on an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 4000,
      host: '127.0.0.1',
      issuer: 'http://localhost:4000',
      audience: 'http://localhost:4000/graphql',
      databaseUrl: undefined,
      dataDir: './.hub-data',
      accessTokenTtl: 600,
      bootstrapClient: undefined,
      maxDelegationDepth: 3,
      tokenRateLimit: 50,
      statementTimeout: 30,
      maxDataExports: 100,
      maxConnections: 1_000,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('holds unread answers to an eighth of the heap unless told otherwise', async () => {
    expect(loadConfig({}).maxUnreadAnswersMib).toBe(Math.floor(getHeapStatistics().heap_size_limit / 8 / 2 ** 20));
    const run = await runNode(
      { PATH: process.env.PATH },
      '--max-old-space-size=96',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      "import { getHeapStatistics } from 'node:v8'; import { loadConfig } from './src/config.ts'; console.log(loadConfig({}).maxUnreadAnswersMib, getHeapStatistics().heap_size_limit)",
    );
    const [bound, heapLimit] = run.stdout.trim().split(' ').map(Number);
    expect(bound).toBe(Math.floor(heapLimit! / 8 / 2 ** 20));
    expect(bound).toBeLessThan(20);
  });

  it('reads a variable set to nothing (`PORT=`) as unset', () => {
    const names = ['NODE_ENV', 'PORT', 'HOST', 'HUB_ISSUER', 'DATABASE_URL', 'HUB_DATA_DIR', 'HUB_KEY_ENCRYPTION_KEY', 'HUB_ACCESS_TOKEN_TTL', 'HUB_DEMO_DATA', 'LOG_LEVEL', 'HUB_CORS_ORIGINS'];
    expect(loadConfig(Object.fromEntries(names.map((name) => [name, ''])))).toEqual(loadConfig({}));
  });

  it('derives the issuer from PORT and the audience from the issuer', () => {
    expect(loadConfig({ PORT: '8080' }).audience).toBe('http://localhost:8080/graphql');
    expect(loadConfig({ HUB_ISSUER: 'https://id.example.com' }).audience).toBe('https://id.example.com/graphql');
  });

  it('refuses an issuer ending with "/" rather than issue tokens whose iss differs from it', () => {
    expect(() => loadConfig({ HUB_ISSUER: 'https://id.example.com/' })).toThrow('HUB_ISSUER: must not end with "/": it is the iss of every token as written (RFC 8414 §3.3)');
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT: must be a port number from 1 to 65535'],
    [{ PORT: '70000' }, 'PORT: must be a port number from 1 to 65535'],
    [{ PORT: '9'.repeat(400) }, 'PORT: must be a port number from 1 to 65535'],
    [{ DATABASE_URL: 'mysql://root@localhost/db' }, 'DATABASE_URL: must be a postgres://user@host:port/database URL (for a Unix socket, postgresql:///database?host=/var/run/postgresql)'],
    [{ DATABASE_URL: 'postgres://' }, 'DATABASE_URL: must be a postgres://user@host:port/database URL (for a Unix socket, postgresql:///database?host=/var/run/postgresql)'],
    [{ DATABASE_URL: 'postgresql:///hub' }, 'DATABASE_URL: must be a postgres://user@host:port/database URL (for a Unix socket, postgresql:///database?host=/var/run/postgresql)'],
    [{ NODE_ENV: 'production' }, 'HUB_KEY_ENCRYPTION_KEY: is required when NODE_ENV=production'],
    [{ HUB_KEY_ENCRYPTION_KEY: 'short' }, 'HUB_KEY_ENCRYPTION_KEY: must be 32 bytes, as 64 hex digits or base64'],
    [{ HUB_ACCESS_TOKEN_TTL: '5' }, 'HUB_ACCESS_TOKEN_TTL: must be a number of seconds from 30 to 86400'],
    [{ HUB_STATEMENT_TIMEOUT: '0' }, 'HUB_STATEMENT_TIMEOUT: must be a number of seconds from 1 to 3600'],
    [{ HUB_ISSUER: 'ftp://id.example.com' }, 'HUB_ISSUER: must be an http(s) URL'],
    [{ HUB_ISSUER: 'not a url' }, 'HUB_ISSUER: must be an http(s) URL'],
    // Endpoints and the audience are the issuer with a path appended: `https://id.example.com?x/oauth/token` is no endpoint.
    [{ HUB_ISSUER: 'https://id.example.com?tenant=a' }, 'HUB_ISSUER: must be an http(s) URL without user, query or fragment (RFC 8414)'],
    [{ HUB_ISSUER: 'https://id.example.com/#top' }, 'HUB_ISSUER: must be an http(s) URL without user, query or fragment (RFC 8414)'],
    [{ HUB_ISSUER: 'https://hub:secret@id.example.com' }, 'HUB_ISSUER: must be an http(s) URL without user, query or fragment (RFC 8414)'],
    // The RFC 9728 metadata's `resource`, whose address is built from it.
    [{ HUB_AUDIENCE: 'hub-api' }, 'HUB_AUDIENCE: must be an http(s) URL'],
    [{ HUB_AUDIENCE: 'https://api.example.com/graphql?v=1' }, 'HUB_AUDIENCE: must be an http(s) URL without user, query or fragment (RFC 9728)'],
    // Payment tokens are the hub's access tokens but for their `aud` (RFC 8725 §3.12): the API's must never be theirs.
    [{ HUB_ISSUER: 'https://id.example.com', HUB_AUDIENCE: 'https://id.example.com/payments' }, 'HUB_AUDIENCE: must not be the audience of payment tokens (https://id.example.com/payments), or the hub would take them as its own access tokens'],
    [{ PORT: '4100', HUB_AUDIENCE: 'http://localhost:4100/payments' }, 'HUB_AUDIENCE: must not be the audience of payment tokens (http://localhost:4100/payments), or the hub would take them as its own access tokens'],
    [{ HUB_BOOTSTRAP_CLIENT_ID: 'agt_operator' }, 'HUB_BOOTSTRAP_CLIENT_SECRET: must be set together with its pair'],
    [{ HUB_BOOTSTRAP_CLIENT_ID: 'agt_operator', HUB_BOOTSTRAP_CLIENT_SECRET: `${'s'.repeat(32)}\u00e9` }, 'HUB_BOOTSTRAP_CLIENT_SECRET: must be printable ASCII (RFC 6749 VSCHAR)'],
    // A secret alone would otherwise be dropped without a word, and no operator client made with it.
    [{ HUB_BOOTSTRAP_CLIENT_SECRET: 's'.repeat(32) }, 'HUB_BOOTSTRAP_CLIENT_ID: must be set together with its pair'],
    [{ HUB_BOOTSTRAP_CLIENT_ID: 'agt_operator', HUB_BOOTSTRAP_CLIENT_SECRET: 's'.repeat(31) }, 'HUB_BOOTSTRAP_CLIENT_SECRET: must be at least 32 characters'],
    [{ HUB_BOOTSTRAP_CLIENT_ID: 'agt_operator', HUB_BOOTSTRAP_CLIENT_SECRET: 's'.repeat(257) }, 'HUB_BOOTSTRAP_CLIENT_SECRET: must be at most 256 characters'],
    [{ HUB_BOOTSTRAP_CLIENT_ID: 'agt_abc', HUB_BOOTSTRAP_CLIENT_SECRET: 's'.repeat(32) }, 'HUB_BOOTSTRAP_CLIENT_ID: must look like agt_<4 to 64 of A-Z a-z 0-9 _ ->'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent'],
    [{ HUB_MAX_DELEGATION_DEPTH: '9' }, 'HUB_MAX_DELEGATION_DEPTH: must be a number from 1 to 8'],
    [{ HUB_MAX_DELEGATION_DEPTH: '0' }, 'HUB_MAX_DELEGATION_DEPTH: must be a number from 1 to 8'],
    [{ HUB_TOKEN_RATE_LIMIT: 'fast' }, 'HUB_TOKEN_RATE_LIMIT: must be a number of requests per second from 1 to 1000000'],
    [{ HUB_MAX_DATA_EXPORTS: '0' }, 'HUB_MAX_DATA_EXPORTS: must be a number of exports from 1 to 100000'],
    [{ HOST: 'not a host' }, `HOST: ${HOST_MESSAGE}`],
    [{ ...PRODUCTION_ENV, HUB_CONTROLLER_PHONE: undefined }, 'HUB_CONTROLLER_PHONE: is required when NODE_ENV=production: every consent receipt names how to reach the controller (Kantara CR v1.1)'],
    [{ NODE_ENV: 'production', HUB_KEY_ENCRYPTION_KEY: '5'.repeat(64) }, 'HUB_CONTROLLER_NAME: is required when NODE_ENV=production: every consent receipt names how to reach the controller (Kantara CR v1.1)'],
    [{ ...PRODUCTION_ENV, HUB_ISSUER: undefined }, 'HUB_ISSUER: must be set to an https URL when NODE_ENV=production (RFC 8414)'],
    [{ ...PRODUCTION_ENV, HUB_ISSUER: 'http://id.shop.example' }, 'HUB_ISSUER: must be set to an https URL when NODE_ENV=production (RFC 8414)'],
    [{ ...PRODUCTION_ENV, DATABASE_URL: undefined, HUB_DATA_DIR: 'memory://' }, 'HUB_DATA_DIR: must not be memory:// when NODE_ENV=production without DATABASE_URL: consents, receipts and the audit trail would be gone at the next start'],
    // Outside production too: the key made for one process could never open the signing keys again.
    [{ DATABASE_URL: 'postgres://hub@127.0.0.1:5432/hub', HUB_DATA_DIR: 'memory://' }, 'HUB_KEY_ENCRYPTION_KEY: is required with DATABASE_URL when HUB_DATA_DIR=memory://: there is nowhere to keep a generated one'],
    [{ HUB_CONTROLLER_EMAIL: 'privacy at shop' }, 'HUB_CONTROLLER_EMAIL: must be an email address'],
    [{ HUB_CONTROLLER_CONTACT: 'DPO\u202e' }, 'HUB_CONTROLLER_CONTACT: must not contain control characters, line breaks, invisible spaces or bidi overrides'],
    [{ HUB_CONTROLLER_ADDRESS: 'Hauptstraße 1, Berlin' }, 'HUB_CONTROLLER_ADDRESS: must be a JSON object such as {"streetAddress": "…", "addressCountry": "DE"}'],
    [{ HUB_CONTROLLER_ADDRESS: '{"addressCountry": "DE"}' }, 'HUB_CONTROLLER_ADDRESS: streetAddress: is required'],
    [{ HUB_CONTROLLER_ADDRESS: '{"streetAddress": "Hauptstraße 1", "addressCountry": "Germany"}' }, 'HUB_CONTROLLER_ADDRESS: addressCountry: must have at most 2 characters'],
    [{ HUB_CONTROLLER_ADDRESS: '{"streetAddress": "Hauptstraße 1", "addressCountry": "DE", "po": "x"}' }, 'HUB_CONTROLLER_ADDRESS: has keys PostalAddress does not: po'],
    // Two capitals that no country holds: user-assigned, exceptionally reserved (UK for GB) or a union.
    [{ HUB_CONTROLLER_ADDRESS: '{"streetAddress": "Hauptstraße 1", "addressCountry": "XX"}' }, 'HUB_CONTROLLER_ADDRESS: addressCountry: must be an ISO 3166-1 alpha-2 code'],
    [{ HUB_CONTROLLER_ADDRESS: '{"streetAddress": "Hauptstraße 1", "addressCountry": "ZZ"}' }, 'HUB_CONTROLLER_ADDRESS: addressCountry: must be an ISO 3166-1 alpha-2 code'],
    [{ HUB_CONTROLLER_ADDRESS: '{"streetAddress": "Hauptstraße 1", "addressCountry": "EU"}' }, 'HUB_CONTROLLER_ADDRESS: addressCountry: must be an ISO 3166-1 alpha-2 code'],
    [{ HUB_CONTROLLER_ADDRESS: '{"streetAddress": "Hauptstraße 1", "addressCountry": "UK"}' }, 'HUB_CONTROLLER_ADDRESS: addressCountry: must be an ISO 3166-1 alpha-2 code'],
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(new ConfigError(message));
  });

  it.each([
    ['PORT', 'port', 1, 65535, 'a port number from 1 to 65535'],
    ['HUB_ACCESS_TOKEN_TTL', 'accessTokenTtl', 30, 86_400, 'a number of seconds from 30 to 86400'],
    ['HUB_MAX_DELEGATION_DEPTH', 'maxDelegationDepth', 1, 8, 'a number from 1 to 8'],
    ['HUB_TOKEN_RATE_LIMIT', 'tokenRateLimit', 1, 1_000_000, 'a number of requests per second from 1 to 1000000'],
    ['HUB_GRAPHQL_RATE_LIMIT', 'graphqlRateLimit', 1, 1_000_000, 'a number of requests per second from 1 to 1000000'],
    ['HUB_MAX_DATA_EXPORTS', 'maxDataExports', 1, 100_000, 'a number of exports from 1 to 100000'],
    ['HUB_MAX_CONNECTIONS', 'maxConnections', 1, 1_000_000, 'a number of connections from 1 to 1000000'],
    ['HUB_MAX_UNREAD_ANSWERS_MIB', 'maxUnreadAnswersMib', 1, 1_048_576, 'a number of MiB from 1 to 1048576'],
    ['HUB_DB_CONNECT_TIMEOUT', 'dbConnectTimeout', 0, 3_600, 'a number of seconds from 0 to 3600'],
    ['HUB_STATEMENT_TIMEOUT', 'statementTimeout', 1, 3_600, 'a number of seconds from 1 to 3600'],
    ['HUB_WEBHOOK_TIMEOUT', 'webhookTimeout', 1, 60, 'a number of seconds from 1 to 60'],
    ['HUB_WEBHOOK_POLL_INTERVAL', 'webhookPollInterval', 1, 3_600, 'a number of seconds from 1 to 3600'],
  ] as const)('takes %s from its least to its greatest value, and refuses one past either', (variable, key, least, greatest, what) => {
    expect(loadConfig({ [variable]: String(least) })[key]).toBe(least);
    expect(loadConfig({ [variable]: String(greatest) })[key]).toBe(greatest);
    for (const past of [least - 1, greatest + 1].filter((value) => value >= 0)) {
      expect(() => loadConfig({ [variable]: String(past) })).toThrow(new ConfigError(`${variable}: must be ${what}`));
    }
  });

  it.each([
    ['HUB_WEBHOOK_ALLOWED_NETWORKS', 'webhookAllowedNetworks', (i: number) => `10.${i}.0.0/16`, 'must list at most 64 networks'],
    ['HUB_TRUSTED_PROXIES', 'trustedProxies', (i: number) => `10.0.0.${i}`, 'must list at most 64 proxies'],
    ['HUB_CORS_ORIGINS', 'corsOrigins', (i: number) => `https://app${i}.example.com`, 'must list at most 64 origins'],
  ] as const)('takes up to 64 entries in %s, and refuses 65', (variable, key, entry, message) => {
    const list = (n: number) => Array.from({ length: n }, (_, i) => entry(i)).join(',');
    expect(loadConfig({ [variable]: list(64) })[key]).toHaveLength(64);
    expect(() => loadConfig({ [variable]: list(65) })).toThrow(new ConfigError(`${variable}: ${message}`));
  });

  it('accepts a production configuration with its key and the controller’s details', () => {
    const key = Buffer.alloc(32, 7);
    const config = loadConfig({ ...PRODUCTION_ENV, HUB_KEY_ENCRYPTION_KEY: key.toString('base64url') });
    expect(config.keyEncryptionKey).toEqual(key);
    // The server keeps the data; an embedded database in memory is never opened.
    expect(loadConfig({ ...PRODUCTION_ENV, HUB_DATA_DIR: 'memory://' }).dataDir).toBe('memory://');
    expect(config.controller).toEqual({
      name: 'Example Shop GmbH',
      contact: 'Data Protection Officer',
      email: 'privacy@shop.example',
      phone: '+49 30 1234567',
      address: { streetAddress: 'Hauptstraße 1', postalCode: '10115', addressLocality: 'Berlin', addressCountry: 'DE' },
    });
  });

  it('takes an operator client id of 4 to 64 characters after agt_ and a secret of 32 to 256', () => {
    for (const [id, secret] of [['agt_abcd', 's'.repeat(32)], [`agt_${'a'.repeat(64)}`, 's'.repeat(256)]] as const) {
      expect(loadConfig({ HUB_BOOTSTRAP_CLIENT_ID: id, HUB_BOOTSTRAP_CLIENT_SECRET: secret }).bootstrapClient).toEqual({ id, secret });
    }
  });

  it('names the controller by the issuer’s host outside production, with no details to reach it unless set', () => {
    expect(loadConfig({ HUB_ISSUER: 'https://id.shop.example' }).controller).toEqual({ name: 'id.shop.example', contact: undefined, email: undefined, phone: undefined, address: undefined });
    expect(loadConfig({}).controller.name).toBe('localhost:4000');
  });

  it('reads the key as 64 hex digits or as base64 in either alphabet, padded or not', () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => 250 - i * 7));
    const forms = [key.toString('hex'), key.toString('hex').toUpperCase(), key.toString('base64'), key.toString('base64').replace(/=$/, ''), key.toString('base64url'), `${key.toString('base64url')}=`];
    expect(new Set(forms).size).toBe(6);
    for (const form of forms) expect(loadConfig({ HUB_KEY_ENCRYPTION_KEY: form }).keyEncryptionKey).toEqual(key);
  });

  it.each([
    ['characters outside the alphabet, which a lenient decoder would skip', `!!!!${'A'.repeat(43)}`],
    ['a space inside', `${'A'.repeat(21)} ${'A'.repeat(21)}`],
    ['both base64 alphabets mixed', `${'+'.repeat(21)}${'_'.repeat(21)}A`],
    ['bits set past the 32nd byte', `${'A'.repeat(42)}B`],
    ['33 bytes', Buffer.alloc(33, 1).toString('base64url')],
    ['31 bytes', Buffer.alloc(31, 1).toString('base64url')],
    ['63 hex digits and a stray g', `${'a'.repeat(63)}g`],
  ])('refuses a key with %s', (_, value) => {
    expect(() => loadConfig({ HUB_KEY_ENCRYPTION_KEY: value })).toThrow(new ConfigError('HUB_KEY_ENCRYPTION_KEY: must be 32 bytes, as 64 hex digits or base64'));
  });

  it.each(['0'.repeat(64), 'A'.repeat(43), `${'A'.repeat(43)}=`])('refuses the all-zero key %s', (value) => {
    expect(() => loadConfig({ HUB_KEY_ENCRYPTION_KEY: value })).toThrow(new ConfigError('HUB_KEY_ENCRYPTION_KEY: must not be all zeros: generate one with `openssl rand -hex 32`'));
  });
});

describe('demo data', () => {
  it('is offered by default outside production, and not in production', () => {
    expect(loadConfig({}).demoData).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test' }).demoData).toBe(true);
    expect(loadConfig({ HUB_DEMO_DATA: 'false' }).demoData).toBe(false);
    const production = PRODUCTION_ENV;
    expect(loadConfig(production).demoData).toBe(false);
    expect(loadConfig({ ...production, HUB_DEMO_DATA: 'false' }).demoData).toBe(false);
  });

  it.each(['true', '1'])('refuses HUB_DEMO_DATA=%s in production, naming why', (value) => {
    expect(() => loadConfig({ ...PRODUCTION_ENV, HUB_DEMO_DATA: value })).toThrow(
      new ConfigError('HUB_DEMO_DATA: must not be true when NODE_ENV=production: demo customers share a published password'),
    );
  });
});

describe('webhook allowed networks', () => {
  it('keeps loopback and private networks of /8 (IPv4) or /16 (IPv6) and narrower', () => {
    const allowed = '127.0.0.0/8,::1/128,10.0.0.0/8,10.1.2.3/16,172.16.0.0/12,192.168.0.0/16,fc00::/16,fd12:3456::/32,169.253.0.0/16,169.255.0.0/16';
    expect(loadConfig({ HUB_WEBHOOK_ALLOWED_NETWORKS: allowed }).webhookAllowedNetworks).toEqual([
      '127.0.0.0/8', '::1/128', '10.0.0.0/8', '10.1.0.0/16', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/16', 'fd12:3456::/32', '169.253.0.0/16', '169.255.0.0/16',
    ]);
  });

  it('keeps an IPv4-mapped network that maps /8 or narrower', () => {
    expect(loadConfig({ HUB_WEBHOOK_ALLOWED_NETWORKS: '::ffff:10.0.0.0/104,::ffff:192.168.0.0/112' }).webhookAllowedNetworks).toEqual(['::ffff:a00:0/104', '::ffff:c0a8:0/112']);
  });

  it.each([
    ['0.0.0.0/0', '0.0.0.0/0 is wider than /8'],
    ['10.0.0.0/8,::/0', '::/0 is wider than /16'],
    ['128.0.0.0/1', '128.0.0.0/1 is wider than /8'],
    ['fc00::/7', 'fc00::/7 is wider than /16'],
    ['::ffff:0:0/96', '::ffff:0:0/96 is wider than /8 (IPv4-mapped, it is 0.0.0.0/0)'],
    ['::ffff:0:0/97', '::ffff:0:0/97 is wider than /8 (IPv4-mapped, it is 0.0.0.0/1)'],
    ['::ffff:10.1.2.3/103', '::ffff:a00:0/103 is wider than /8 (IPv4-mapped, it is 10.0.0.0/7)'],
  ])('refuses %s, wider than the widest allowed', (value, start) => {
    expect(() => loadConfig({ HUB_WEBHOOK_ALLOWED_NETWORKS: value })).toThrow(new ConfigError(`HUB_WEBHOOK_ALLOWED_NETWORKS: ${start}; list the networks webhooks need, such as 10.1.0.0/16`));
  });

  it.each(['169.254.169.254/32', '169.254.0.0/16', '169.0.0.0/8', '169.254.169.0/24', 'fe80::/64', 'fe80::1/128', 'fe80::/16', '::ffff:169.254.169.254/128', '64:ff9b::/96', '64:ff9b:1::/96', '64:ff9b:1::a9fe:a9fe/128', '2002::/16', '::a9fe:a9fe/128', '::ffff:0:169.254.169.254/128'])(
    'refuses %s, which reaches link-local addresses where cloud metadata answers',
    (value) => {
      expect(() => loadConfig({ HUB_WEBHOOK_ALLOWED_NETWORKS: `127.0.0.0/8,${value}` })).toThrow(
        /^HUB_WEBHOOK_ALLOWED_NETWORKS: \S+ includes link-local addresses \(169\.254\.0\.0\/16, fe80::\/10\), where cloud metadata services answer; they cannot be allowed$/,
      );
    },
  );
});

describe('an IPv4 address written after :: alone', () => {
  // RFC 4291 §2.5.5.1 reads ::10.0.0.1 as the deprecated IPv4-compatible ::a00:1; the address library reads it as the IPv4-mapped ::ffff:a00:1.
  it.each([
    ['HUB_WEBHOOK_ALLOWED_NETWORKS', '::10.0.0.0/104'],
    ['HUB_TRUSTED_PROXIES', '::10.0.0.1'],
    ['HUB_TRUSTED_PROXIES', '::10.0.0.0/104'],
  ])('is refused in %s, which would read it otherwise than its standard says', (variable, value) => {
    expect(() => loadConfig({ [variable]: `10.1.0.0/16,${value}` })).toThrow(
      new ConfigError(`${variable}: ${value} is the deprecated IPv4-compatible notation; write ::ffff:${value.slice(2)} for IPv4 addresses`),
    );
  });

  it('is kept in its other forms', () => {
    expect(loadConfig({ HUB_WEBHOOK_ALLOWED_NETWORKS: '::ffff:10.0.0.0/104,::a00:0/104,0::10.0.0.0/104' }).webhookAllowedNetworks).toEqual(['::ffff:a00:0/104', '::a00:0/104', '::a00:0/104']);
    expect(loadConfig({ HUB_TRUSTED_PROXIES: '::ffff:10.0.0.1,::FFFF:10.0.0.0/104,::a00:1' }).trustedProxies).toEqual(['::ffff:10.0.0.1', '::FFFF:10.0.0.0/104', '::a00:1']);
  });
});

describe('HOST', () => {
  it.each(['127.0.0.1', '0.0.0.0', '::', '::1', 'fe80::1%eth0', 'localhost', 'hub-1.internal.example', 'localhost.'])('accepts %s', (host) => {
    expect(loadConfig({ HOST: host }).host).toBe(host);
  });

  it.each([
    ['an address with an octet past 255', '127.0.0.256'],
    ['a shortened address Node would look up as a name', '127.1'],
    ['a bracketed IPv6 address, as in a URL', '[::1]'],
    ['a URL', 'http://localhost'],
    ['a host and port', 'localhost:4000'],
    ['a space', 'local host'],
    ['a label past 63 characters', `${'a'.repeat(64)}.example`],
  ])('refuses %s when the configuration loads, not when the hub listens', (_, host) => {
    expect(() => loadConfig({ HOST: host })).toThrow(new ConfigError(`HOST: ${HOST_MESSAGE}`));
  });
});

describe('CORS origins', () => {
  it('allows no cross-origin frontend by default', () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
  });

  it('keeps each origin as a browser sends it: lower-case host, no default port', () => {
    const config = loadConfig({ HUB_CORS_ORIGINS: ' https://App.Example.com , http://localhost:5173,https://app.example.com:443,http://[::1]:8080' });
    expect(config.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173', 'http://[::1]:8080']);
    expect(Object.isFrozen(config.corsOrigins)).toBe(true);
  });

  it.each([
    ['*', 'is a wildcard: list each origin, such as https://app.example.com'],
    ['https://*.example.com', 'is a wildcard: list each origin, such as https://app.example.com'],
    ['https://app.example.com/', 'is not an origin: http(s)://host[:port], with no path (not even a trailing /), query or credentials'],
    ['https://app.example.com/app', 'is not an origin: http(s)://host[:port], with no path (not even a trailing /), query or credentials'],
    ['https://app.example.com?x=1', 'is not an origin: http(s)://host[:port], with no path (not even a trailing /), query or credentials'],
    ['https://user@app.example.com', 'is not an origin: http(s)://host[:port], with no path (not even a trailing /), query or credentials'],
    ['app.example.com', 'is not an origin: http(s)://host[:port], with no path (not even a trailing /), query or credentials'],
    ['ftp://app.example.com', 'is not an origin: http(s)://host[:port], with no path (not even a trailing /), query or credentials'],
    ['null', 'is not an origin: http(s)://host[:port], with no path (not even a trailing /), query or credentials'],
    ['https://app.example.com:70000', 'is not an origin: http(s)://host[:port], with no path (not even a trailing /), query or credentials'],
  ])('refuses %s', (value, problem) => {
    expect(() => loadConfig({ HUB_CORS_ORIGINS: `https://ok.example.com,${value}` })).toThrow(new ConfigError(`HUB_CORS_ORIGINS: ${value} ${problem}`));
  });

  it('in production, refuses a plain-http origin but this machine’s own', () => {
    expect(() => loadConfig({ ...PRODUCTION_ENV, HUB_CORS_ORIGINS: 'https://shop.example.com,http://app.shop.example' })).toThrow(
      new ConfigError('HUB_CORS_ORIGINS: http://app.shop.example must be https when NODE_ENV=production: a page served over http can be rewritten on its way'),
    );
    expect(loadConfig({ ...PRODUCTION_ENV, HUB_CORS_ORIGINS: 'https://shop.example.com,http://localhost:5173,http://127.0.0.1:8080' }).corsOrigins).toHaveLength(3);
  });

  it('in production, takes for this machine’s own only localhost, [::1] and a whole 127.x.y.z address, not a host name that starts like one', () => {
    expect(loadConfig({ ...PRODUCTION_ENV, HUB_CORS_ORIGINS: 'http://[::1]:8080,http://127.1.2.3' }).corsOrigins).toEqual(['http://[::1]:8080', 'http://127.1.2.3']);
    for (const origin of ['http://127.0.0.1.shop-cdn.example', 'http://localhost.shop.example']) {
      expect(() => loadConfig({ ...PRODUCTION_ENV, HUB_CORS_ORIGINS: origin })).toThrow(
        new ConfigError(`HUB_CORS_ORIGINS: ${origin} must be https when NODE_ENV=production: a page served over http can be rewritten on its way`),
      );
    }
  });
});

describe('the hub command with a bad environment', () => {
  it('exits non-zero with one line naming the variable, before touching any database', async () => {
    const result = await runNode({ PATH: process.env.PATH, PORT: 'not-a-port', HUB_DATA_DIR: 'memory://' }, 'bin/hub.js', 'serve');
    expect(result.status).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual(['hub: configuration error: PORT: must be a port number from 1 to 65535']);
  }, 60_000);

  it('refuses to start in production with demo data', async () => {
    const result = await runNode({ PATH: process.env.PATH, ...PRODUCTION_ENV, HUB_DEMO_DATA: 'true', HUB_DATA_DIR: 'memory://' }, 'bin/hub.js', 'serve');
    expect(result.status).toBe(78);
    expect(result.stderr.trim().split('\n')).toEqual(['hub: configuration error: HUB_DEMO_DATA: must not be true when NODE_ENV=production: demo customers share a published password']);
  }, 60_000);
});

describe('hub seed in production', () => {
  it('refuses to run, before touching any database', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-seed-production-'));
    try {
      const result = await runNode({ PATH: process.env.PATH, ...PRODUCTION_ENV, HUB_DATA_DIR: dir, LOG_LEVEL: 'silent' }, 'bin/hub.js', 'seed', '--users', '5');
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual(['hub: seed refuses to run when NODE_ENV=production: seeded customers share a published password']);
      expect(result.stdout).toBe('');
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
