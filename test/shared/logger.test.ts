import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/shared/logger.js';

/** A logger at `info` whose lines the test reads. */
function captured() {
  const lines: string[] = [];
  const logger = createLogger({ logLevel: 'info' }, { write: (line: string) => lines.push(line) });
  return { logger, text: () => lines.join('') };
}

describe('the process logger', () => {
  it('leaves out the values of a database error wrapped in another, as its cause or among the errors it gathers', () => {
    const { logger, text } = captured();
    const refused = () => Object.assign(new Error('duplicate key value violates unique constraint "users_email_key"'), { code: '23505', detail: 'Key (email)=(ann@example.com) already exists.', params: ['ann@example.com'] });
    logger.error({ err: new Error('signing up failed', { cause: refused() }) }, 'wrapped');
    logger.error({ err: new AggregateError([refused()], 'every try failed') }, 'gathered');
    expect(text()).toContain('users_email_key');
    expect(text()).not.toContain('ann@example.com');
  });

  it('redacts passwords and client secrets in whatever object is logged', () => {
    const { logger, text } = captured();
    logger.info({ input: { email: 'x@example.com', password: 'PASSWORD-1' }, body: { clientSecret: 'SECRET-2', client_secret: 'SECRET-3' } }, 'logged');
    expect(text()).toContain('x@example.com');
    for (const secret of ['PASSWORD-1', 'SECRET-2', 'SECRET-3']) expect(text()).not.toContain(secret);
  });
});
