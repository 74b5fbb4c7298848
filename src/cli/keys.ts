import { Command } from 'commander';
import type { Config } from '../config.js';
import { waitForDatabase } from '../db/availability.js';
import { openConfiguredDatabase, type Db } from '../db/connect.js';
import { requireMigrated } from '../db/migrator.js';
import { open, resolveKeyEncryptionKey } from '../oauth/key-encryption.js';
import { PUBLISHED_AHEAD_MS, publishedUntil, signingSchedule } from '../oauth/key-schedule.js';
import { findAllSigningKeys, rotateSigningKey, type SigningKeyRow } from '../oauth/key-store.js';
import { loadConfigOrExit } from './config.js';

/**
 * `hub keys rotate | list`: the keys that sign access tokens. Running instances pick a rotation up
 * when they next reread the keys (within a minute, or at once for a token naming the new key); a
 * new key is published that long, and past every cached `/jwks.json`, before it signs.
 */
export function keysCommand(): Command {
  const keys = new Command('keys').description('rotate or list the keys that sign access tokens');
  keys
    .command('rotate')
    .description(
      `make a new signing key, published at once and signing ${PUBLISHED_AHEAD_MS / 60_000} min later, once every cached /jwks.json and every instance hold it; ` +
        'the previous one is accepted, and published in /jwks.json, while its tokens may still be valid (HUB_ACCESS_TOKEN_TTL, plus 2 min), and stays in /receipts/jwks.json for the receipts it signed',
    )
    .option('--now', 'sign with the new key at once, as for a key that may have leaked: verifiers holding an older /jwks.json refuse its tokens until they fetch it again')
    .action((options: { now?: boolean }) => withDatabase((db, config) => rotate(db, config, options.now === true)));
  keys
    .command('list')
    .description('list the signing keys, newest first: id, created, retired, and whether it signs, will sign, or is still accepted')
    .action(() => withDatabase(list, { writable: false }));
  return keys;
}

/**
 * Checks that the configured key-encryption key opens the current signing key before sealing a
 * new one with it: a mistyped HUB_KEY_ENCRYPTION_KEY must fail here, not plant a key no instance
 * can decrypt.
 */
async function rotate(db: Db, config: Config, signNow: boolean): Promise<void> {
  const kek = resolveKeyEncryptionKey(config);
  const current = (await findAllSigningKeys(db)).find((key) => key.retiredAt === null);
  if (current) open(kek, current.privateKeyEncrypted, current.kid);
  const now = new Date();
  // The first key has no verifier to wait for.
  const signsFrom = current && !signNow ? new Date(now.getTime() + PUBLISHED_AHEAD_MS) : now;
  const kid = await rotateSigningKey(db, kek, now, signsFrom);
  if (!current) return console.log(`rotated: new signing key ${kid}; there was no previous key`);
  const when = signsFrom > now ? `published now, signs from ${signsFrom.toISOString()}` : 'signing now';
  console.log(`rotated: new signing key ${kid}, ${when}; previous key accepted for access tokens until ${publishedUntil(signsFrom, config.accessTokenTtl).toISOString()}`);
}

async function list(db: Db, config: Config): Promise<void> {
  const now = new Date();
  const keys = await findAllSigningKeys(db);
  const schedule = signingSchedule(keys, now);
  const state = (key: SigningKeyRow, older: SigningKeyRow | undefined): string => {
    if (key === schedule[0]) return 'signing, published';
    if (schedule.includes(key)) return `published, signs from ${older!.retiredAt!.toISOString()}`;
    const until = publishedUntil(key.retiredAt!, config.accessTokenTtl);
    return until > now ? `published, accepted until ${until.toISOString()}` : 'no longer accepted, published for receipts only';
  };
  keys.forEach((key, i) => {
    const retired = key.retiredAt ? key.retiredAt.toISOString() : '-';
    console.log(`${key.kid}  created ${key.createdAt.toISOString()}  retired ${retired}  ${state(key, keys[i + 1])}`);
  });
}

/** Runs `run` on the migrated database; `writable: false` for a command that only reads, which a read-only standby serves too. */
async function withDatabase(run: (db: Db, config: Config) => Promise<void>, options: { readonly writable?: boolean } = {}): Promise<void> {
  const config = loadConfigOrExit();
  const database = openConfiguredDatabase(config, { existing: true });
  try {
    await waitForDatabase(database, config.dbConnectTimeout, undefined, options);
    await requireMigrated(database.db);
    await run(database.db, config);
  } finally {
    await database.close();
  }
}
