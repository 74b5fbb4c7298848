import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeEmbedded } from '../helpers/database.js';
import { runNode } from '../helpers/run-node.js';

describeEmbedded('the hub command given a command it does not know', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-unknown-command-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = { PATH: process.env.PATH, HUB_DATA_DIR: dir, LOG_LEVEL: 'silent' };

  it("answers commander's unknown-command error with the help hint and exit 1, starting nothing", async () => {
    // Side by side: each run spends its time starting tsx.
    const [bogus, typo, nested] = await Promise.all([runNode(env, 'bin/hub.js', 'bogus'), runNode(env, 'bin/hub.js', 'serv'), runNode(env, 'bin/hub.js', 'migrate', 'bogus')]);
    expect(bogus).toEqual({ status: 1, stdout: '', stderr: "error: unknown command 'bogus'\n(add --help for additional information)\n" });
    expect(typo).toEqual({ status: 1, stdout: '', stderr: "error: unknown command 'serv'\n(Did you mean serve?)\n(add --help for additional information)\n" });
    expect(nested).toEqual({ status: 1, stdout: '', stderr: "error: unknown command 'bogus'\n(add --help for additional information)\n" });
    expect(readdirSync(dir)).toEqual([]);
  }, 120_000);

  it('still serves when given no command, migrates up for `hub migrate` alone, and names its release for --version', async () => {
    const [serve, migrate, version] = await Promise.all([runNode({ ...env, PORT: 'none' }, 'bin/hub.js'), runNode(env, 'bin/hub.js', 'migrate'), runNode(env, 'bin/hub.js', '--version')]);
    expect(version).toEqual({ status: 0, stdout: `${JSON.parse(readFileSync('package.json', 'utf8')).version}\n`, stderr: '' });
    // The serve command reads its configuration first: its error shows that it ran.
    expect(serve).toEqual({ status: 78, stdout: '', stderr: 'hub: configuration error: PORT: must be a port number from 1 to 65535\n' });
    expect(migrate).toMatchObject({ status: 0, stderr: '' });
    expect(migrate.stdout).toMatch(/^applied: 0001_foundation, /);
  }, 120_000);
});
