import { Command } from 'commander';
import type { Config } from '../config.js';
import { openConfiguredDatabase, waitForDatabase, type Db } from '../db/connect.js';
import { requireMigrated } from '../db/migrator.js';
import { open, resolveKeyEncryptionKey } from '../oauth/key-encryption.js';
import { publishedUntil, rotateSigningKey } from '../oauth/key-store.js';
import { findPublishedKeys, type SigningKeyRow } from '../oauth/keys.queries.js';
import { loadConfigOrExit } from './config.js';

/**
 * `hub keys rotate | list`: the keys that sign access tokens. Running instances pick a rotation up
 * when they next reread the keys (within a minute, or at once for a token naming the new key).
 */
export function keysCommand(): Command {
  const keys = new Command('keys').description('rotate or list the keys that sign access tokens');
  keys
    .command('rotate')
    .description('make a new signing key; the previous one stays published (receipts it signed stay verifiable) and is accepted for access tokens while they may still be valid (HUB_ACCESS_TOKEN_TTL, plus 2 min)')
    .action(() => withDatabase(rotate));
  keys
    .command('list')
    .description('list the signing keys, newest first: id, created, retired, and whether /jwks.json still publishes it')
    .action(() => withDatabase(list));
  return keys;
}

/**
 * Checks that the configured key-encryption key opens the current signing key before sealing a
 * new one with it: a mistyped HUB_KEY_ENCRYPTION_KEY must fail here, not plant a key no instance
 * can decrypt.
 */
async function rotate(db: Db, config: Config): Promise<void> {
  const kek = resolveKeyEncryptionKey(config);
  const current = (await allKeys(db)).find((key) => key.retiredAt === null);
  if (current) open(kek, current.privateKeyEncrypted, current.kid);
  const now = new Date();
  const kid = await rotateSigningKey(db, kek, now);
  console.log(
    current
      ? `rotated: new signing key ${kid}; previous key accepted for access tokens until ${publishedUntil(now, config.accessTokenTtl).toISOString()}`
      : `rotated: new signing key ${kid}; there was no previous key`,
  );
}

async function list(db: Db, config: Config): Promise<void> {
  const now = new Date();
  for (const key of await allKeys(db)) {
    const retired = key.retiredAt ? key.retiredAt.toISOString() : '-';
    console.log(`${key.kid}  created ${key.createdAt.toISOString()}  retired ${retired}  ${publication(key, now, config)}`);
  }
}

function publication(key: SigningKeyRow, now: Date, config: Config): string {
  if (!key.retiredAt) return 'signing, published';
  const until = publishedUntil(key.retiredAt, config.accessTokenTtl);
  return until > now ? `published, accepted until ${until.toISOString()}` : 'published, no longer accepted';
}


/** Every signing key ever made, newest first. */
function allKeys(db: Db): Promise<SigningKeyRow[]> {
  return findPublishedKeys(db, new Date(0));
}

async function withDatabase(run: (db: Db, config: Config) => Promise<void>): Promise<void> {
  const config = loadConfigOrExit();
  const database = openConfiguredDatabase(config);
  try {
    await waitForDatabase(database, config.dbConnectTimeout);
    await requireMigrated(database.db);
    await run(database.db, config);
  } finally {
    await database.close();
  }
}
