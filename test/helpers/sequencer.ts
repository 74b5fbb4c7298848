import { existsSync } from 'node:fs';
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take twenty seconds or more in one pass or the other, longest first: real timeouts
 * waited out, `hub` commands run as child processes, the server pass's long runs. A clean checkout
 * has no durations of its own yet, so vitest would start the largest files first and a small file
 * that waits 30 s could start last, alone, the other workers idle; the server pass would go by the
 * embedded pass's durations, in which its long runs were skipped and took no time.
 */
const LONG_FILES = [
  'test/oauth/access-tokens.test.ts',
  'test/db/migrations.test.ts',
  'test/load/mixed-load.test.ts',
  'test/identity/seed.test.ts',
  'test/faults/killed-consent-change.test.ts',
  'test/privacy/export-slots.test.ts',
  'test/agents/bootstrap.test.ts',
  'test/db/data-dir-lock.test.ts',
  'test/http/slow-clients.test.ts',
  'test/cli/unknown-command.test.ts',
  'test/audiences/audience-export-stall.test.ts',
  'test/db/notifications.test.ts',
  'test/fuzz/schema-fuzz.test.ts',
  'test/cli/serve-url.test.ts',
  'test/audit/audit.append-only.test.ts',
];

/** Vitest's order (longest last time, else largest, first), with the long files ahead of the rest. */
export class LongFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const { root } = this.ctx.config;
    const missing = LONG_FILES.filter((file) => !existsSync(path.join(root, file)));
    if (missing.length > 0) throw new Error(`test/helpers/sequencer.ts names files that are gone: ${missing.join(', ')}`);
    const rank = (file: TestSpecification) => {
      const index = LONG_FILES.indexOf(path.relative(root, file.moduleId));
      return index === -1 ? LONG_FILES.length : index;
    };
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}
