import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Node resolves `graphql` to its CommonJS build for Apollo and Pothos; Vite would pick the ESM
  // build for our files, and two copies of graphql cannot share a schema.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Each file gets its own database; files run in parallel on separate processes. On embedded
    // PGlite a process runs file after file, so the modules are loaded once per process, not once
    // per file; on a server each file's process ends with it, which closes any connection a
    // failed test left open before it can count against the server's limit.
    pool: 'forks',
    poolOptions: { forks: { isolate: Boolean(process.env.TEST_DATABASE_URL) } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { NODE_ENV: 'test' },
  },
});
