import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

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
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('derives the issuer from PORT and the audience from the issuer', () => {
    expect(loadConfig({ PORT: '8080' }).audience).toBe('http://localhost:8080/graphql');
    expect(loadConfig({ HUB_ISSUER: 'https://id.example.com/' }).audience).toBe('https://id.example.com/graphql');
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT: must be a port number from 1 to 65535'],
    [{ PORT: '70000' }, 'PORT: must be a port number from 1 to 65535'],
    [{ DATABASE_URL: 'mysql://root@localhost/db' }, 'DATABASE_URL: must be a postgres://user@host:port/database URL'],
    [{ DATABASE_URL: 'postgres://' }, 'DATABASE_URL: must be a postgres://user@host:port/database URL'],
    [{ NODE_ENV: 'production' }, 'HUB_KEY_ENCRYPTION_KEY: is required when NODE_ENV=production'],
    [{ HUB_KEY_ENCRYPTION_KEY: 'short' }, 'HUB_KEY_ENCRYPTION_KEY: must be 32 bytes, as 64 hex digits or base64'],
    [{ HUB_ACCESS_TOKEN_TTL: '5' }, 'HUB_ACCESS_TOKEN_TTL: must be a number of seconds from 30 to 86400'],
    [{ HUB_ISSUER: 'ftp://id.example.com' }, 'HUB_ISSUER: must be an http(s) URL'],
    [{ HUB_BOOTSTRAP_CLIENT_ID: 'agt_operator' }, 'HUB_BOOTSTRAP_CLIENT_SECRET: must be set together with its pair'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent'],
    [{ HUB_MAX_DELEGATION_DEPTH: '9' }, 'HUB_MAX_DELEGATION_DEPTH: must be a number from 1 to 8'],
    [{ HUB_MAX_DELEGATION_DEPTH: '0' }, 'HUB_MAX_DELEGATION_DEPTH: must be a number from 1 to 8'],
    [{ HUB_TOKEN_RATE_LIMIT: 'fast' }, 'HUB_TOKEN_RATE_LIMIT: must be a number of requests per second from 1 to 1000000'],
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(new ConfigError(message));
  });

  it('accepts a production configuration with its key', () => {
    const key = Buffer.alloc(32, 7);
    const config = loadConfig({ NODE_ENV: 'production', HUB_KEY_ENCRYPTION_KEY: key.toString('base64url') });
    expect(config.keyEncryptionKey).toEqual(key);
  });
});

describe('the hub command with a bad environment', () => {
  it('exits non-zero with one line naming the variable, before touching any database', () => {
    const result = spawnSync(process.execPath, ['bin/hub.js', 'serve'], {
      env: { PATH: process.env.PATH, PORT: 'not-a-port', HUB_DATA_DIR: 'memory://' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual(['hub: configuration error: PORT: must be a port number from 1 to 65535']);
  });
});
