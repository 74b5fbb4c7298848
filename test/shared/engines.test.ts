import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

interface Lockfile {
  readonly packages: Record<string, { readonly version?: string; readonly dev?: boolean; readonly engines?: { readonly node?: string } }>;
}

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
const lockfile = JSON.parse(readFileSync('package-lock.json', 'utf8')) as Lockfile;

describe('the packages the hub runs on', () => {
  it('each support every Node version package.json promises', () => {
    // A runtime package that asks for a newer Node may use what the promised one lacks, from any
    // patch release on: the install only warns of it.
    const unsupported = Object.entries(lockfile.packages)
      .filter(([path, entry]) => path !== '' && !entry.dev && entry.engines?.node && !semver.subset(manifest.engines.node, entry.engines.node))
      .map(([path, entry]) => `${path.replace(/^.*node_modules\//, '')}@${entry.version} (node ${entry.engines!.node})`);
    expect(unsupported).toEqual([]);
  });
});
