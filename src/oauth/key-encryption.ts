import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeSync, type Stats } from 'node:fs';
import path from 'node:path';
import { MEMORY_DATA_DIR, type Config } from '../config.js';
import { encryptionKey } from '../config.values.js';
import { makePrivateFolder } from '../shared/private-folder.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_FILE = 'key-encryption-key';
/** Where the key comes from, for an error that cannot tell which one it was given. */
const KEY_SOURCE = `HUB_KEY_ENCRYPTION_KEY (or, where it is unset, the ${KEY_FILE} file in HUB_DATA_DIR)`;

/**
 * The key that encrypts signing keys at rest: HUB_KEY_ENCRYPTION_KEY, or (outside production,
 * where config makes it mandatory) one generated once into the data directory with mode 0600.
 * With `memory://` the key lives only as long as the process, like the data it protects. The file
 * is checked as the variable is, and appears whole or not at all: written under another name,
 * then linked into place, so a start cut short leaves no empty key behind, and of two processes
 * starting at once on one folder, the second reads the first's key.
 * @throws Error naming the file when it holds no valid key.
 */
export function resolveKeyEncryptionKey(config: Pick<Config, 'keyEncryptionKey' | 'dataDir'>): Buffer {
  if (config.keyEncryptionKey) return config.keyEncryptionKey;
  if (config.dataDir === MEMORY_DATA_DIR) return randomBytes(32);
  const file = path.resolve(config.dataDir, KEY_FILE);
  if (existsSync(file)) return readKeyFile(file);
  makePrivateFolder(path.dirname(file));
  // A name no other process picks (two containers sharing the folder may both be pid 1), written
  // to disk before it is linked, so a power cut cannot leave the key's name on an empty file.
  const written = `${file}.${randomBytes(8).toString('hex')}.new`;
  const fd = openSync(written, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(written, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(written, { force: true });
  }
  // Whichever process linked first, the key is the one the file holds.
  return readKeyFile(file);
}

function readKeyFile(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    refuseExposedKeyFile(file, fstatSync(fd));
    const parsed = encryptionKey.safeParse(readFileSync(fd, 'utf8').trim());
    if (parsed.success) return parsed.data;
    throw new Error(`${file} ${parsed.error.issues[0]!.message}: put back the key the signing keys were sealed with, or set HUB_KEY_ENCRYPTION_KEY`);
  } finally {
    closeSync(fd);
  }
}

/**
 * PostgreSQL's rule for its private key file, which ssh keeps too: this process's own and no one
 * else's to read or write, or root's, readable by a group at most. The key opens every signing key
 * and webhook secret of the database; a copy or restore made under the usual umask (0644) handed
 * it to every user of the machine, and another user's file is one that user could replace. Not
 * checked where there are no uids (Windows).
 */
function refuseExposedKeyFile(file: string, { uid, mode }: Stats): void {
  const self = process.geteuid?.();
  if (self === undefined) return;
  if (uid !== self && uid !== 0) throw new Error(`${file} belongs to uid ${uid}: it must be this process's (uid ${self}) or root's`);
  const exposed = uid === self ? 0o077 : 0o037;
  if ((mode & exposed) !== 0) {
    throw new Error(`${file} may be read or written by users other than its owner (mode 0${(mode & 0o777).toString(8)}): make it 0600 (chmod 600)`);
  }
}

/**
 * AES-256-GCM of `plaintext` as iv ‖ tag ‖ ciphertext. `context` (the key id) is bound as
 * additional data, so a ciphertext cannot be moved to another row unnoticed.
 */
export function seal(kek: Buffer, plaintext: Buffer, context: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/**
 * The tag is taken at its full 16 bytes only: Node would otherwise check as few as 4 of them, the
 * length of whatever stands there, and a tag cut short is forged in far fewer tries (NIST SP
 * 800-38D Appendix C).
 * @param name what the value is, for the error: a signing key unless said.
 * @throws Error when the key is wrong or the sealed value was altered.
 */
export function open(kek: Buffer, sealed: Buffer, context: string, name = `signing key ${context}`): Buffer {
  try {
    if (sealed.length < IV_BYTES + TAG_BYTES) throw new RangeError('too short to hold an iv and a tag');
    const decipher = createDecipheriv('aes-256-gcm', kek, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new Error(`${name} cannot be decrypted: ${KEY_SOURCE} is not the key it was sealed with`);
  }
}
