import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { LongFilesFirst } from './test/helpers/sequencer.js';

const WORKERS = availableParallelism() + 1;

export default defineConfig({
  // Node resolves `graphql` to its CommonJS build for Apollo and Pothos; Vite would pick the ESM
  // build for our files, and two copies of graphql cannot share a schema.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Each file gets its own database and closes what it opens; files run in parallel on separate
    // processes, each running file after file, so the modules load once per process, not per file.
    // One process more than there are cores: a third of the time, a file waits (on a grace period,
    // a hub process it started, the server) with nothing to compute.
    pool: 'forks',
    poolOptions: { forks: { isolate: false, minForks: WORKERS, maxForks: WORKERS } },
    sequence: { sequencer: LongFilesFirst },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // A poll waits for what a test awaits (a notification, a delivery, a metric), which a loaded
    // machine may take seconds to bring, not vitest's 1 s; a test that pins how soon says so in
    // a timeout of its own. A poll that passes ends as soon as it does, so this costs only
    // failures their time.
    expect: { poll: { timeout: 10_000 } },
    env: { NODE_ENV: 'test' },
  },
});
