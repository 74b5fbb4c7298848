import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';

interface SignatureCase {
  readonly tcId: number;
  readonly comment: string;
  readonly msg: string;
  readonly sig: string;
  readonly result: 'valid' | 'invalid' | 'acceptable';
}

interface SignatureGroup {
  readonly publicKeyDer: string;
  readonly tests: readonly SignatureCase[];
}

type ImportAlgorithm = Parameters<typeof webcrypto.subtle.importKey>[2];
type VerifyAlgorithm = Parameters<typeof webcrypto.subtle.verify>[0];

/**
 * The WebCrypto operations jose runs for ES256 (P-256, SHA-256, the raw r‖s signature of JWS) and
 * for EdDSA with Ed25519, which the hub may move to.
 */
const PRIMITIVES = [
  { file: 'ecdsa_secp256r1_sha256_p1363_test.json', label: 'ES256 (ECDSA P-256 SHA-256, P1363)', key: { name: 'ECDSA', namedCurve: 'P-256' }, verify: { name: 'ECDSA', hash: 'SHA-256' } },
  { file: 'ed25519_test.json', label: 'EdDSA (Ed25519)', key: { name: 'Ed25519' }, verify: { name: 'Ed25519' } },
] satisfies { file: string; label: string; key: ImportAlgorithm; verify: VerifyAlgorithm }[];

function load(file: string) {
  const location = new URL(`../vectors/wycheproof/${file}`, import.meta.url);
  const vectors = JSON.parse(readFileSync(location, 'utf8')) as { numberOfTests: number; testGroups: SignatureGroup[] };
  const cases = vectors.testGroups.flatMap((group) => group.tests.map((test) => ({ group, test })));
  return { numberOfTests: vectors.numberOfTests, groups: vectors.testGroups, cases };
}

/** True when WebCrypto accepts the signature; false when it refuses it or throws. */
async function verifies(primitive: (typeof PRIMITIVES)[number], group: SignatureGroup, test: SignatureCase): Promise<boolean> {
  const hex = (value: string) => Buffer.from(value, 'hex');
  try {
    const key = await webcrypto.subtle.importKey('spki', hex(group.publicKeyDer), primitive.key, false, ['verify']);
    return await webcrypto.subtle.verify(primitive.verify, key, hex(test.sig), hex(test.msg));
  } catch {
    return false;
  }
}

for (const primitive of PRIMITIVES) {
  describe(`Wycheproof ${primitive.file} through WebCrypto`, () => {
    const { numberOfTests, groups, cases } = load(primitive.file);
    const byResult = (result: SignatureCase['result']) => cases.filter(({ test }) => test.result === result);
    const name = ({ test }: (typeof cases)[number]) => `tcId ${test.tcId} (${test.comment || 'no comment'})`;

    it(`reads all ${numberOfTests} cases, none of them only acceptable`, () => {
      expect(cases).toHaveLength(numberOfTests);
      expect(byResult('acceptable')).toEqual([]);
    });

    it(`imports the public key of all ${groups.length} groups, so no rejection below is an import failure`, async () => {
      for (const group of groups) {
        await expect(webcrypto.subtle.importKey('spki', Buffer.from(group.publicKeyDer, 'hex'), primitive.key, false, ['verify'])).resolves.toBeDefined();
      }
    });

    it(`${primitive.label} rejects all ${byResult('invalid').length} invalid signatures`, async () => {
      const accepted = [];
      for (const entry of byResult('invalid')) if (await verifies(primitive, entry.group, entry.test)) accepted.push(name(entry));
      expect(accepted).toEqual([]);
    });

    it(`${primitive.label} accepts all ${byResult('valid').length} valid signatures`, async () => {
      const rejected = [];
      for (const entry of byResult('valid')) if (!(await verifies(primitive, entry.group, entry.test))) rejected.push(name(entry));
      expect(rejected).toEqual([]);
    });
  });
}
