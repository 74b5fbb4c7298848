#!/usr/bin/env node
// The `hub` command: runs the TypeScript entry through tsx, so there is no build step to forget.
// The heaviest dependencies are loaded first, as the plain JavaScript they are: tsx scans every ES
// module loaded once it is registered, which made each command start about half a second later.
// One after another: Node opens every file of a package's module graph at once, and the four
// together would take more than the 256 open files a small container may allow.
for (const name of ['kysely', '@electric-sql/pglite', 'zod', 'jose']) await import(name);
const { register } = await import('tsx/esm/api');

register();
await import('../src/cli/index.ts');
