import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { createLogger } from '../../src/shared/logger.js';
import { startWebhookHub } from './webhook-hub.js';

describe('a delivery worker whose runs fail, as through a database outage', () => {
  let hub: Hub;
  beforeAll(async () => {
    ({ hub } = await startWebhookHub());
  });
  afterAll(() => hub.close());

  it('says so once at warn, then at debug for each poll, and once at info when a run works again', async () => {
    let failing = true;
    const outage: KyselyPlugin = {
      transformQuery(args) {
        if (failing) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ logLevel: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const worker = hub.services.webhooks.createWorker({ db: hub.services.db.withPlugin(outage), logger, pollIntervalSeconds: 0.02 });
    const failed = () => lines.filter((line) => String(line.msg).startsWith('webhook delivery run failed'));
    try {
      worker.start();
      // Polled every 20 ms: a line at warn for each would be 50 a second.
      await expect.poll(() => failed().length, { timeout: 5_000 }).toBeGreaterThanOrEqual(4);
      failing = false;
      await expect.poll(() => lines.some((line) => line.level === 30), { timeout: 5_000 }).toBe(true);
    } finally {
      await worker.stop();
    }
    expect(failed().filter((line) => line.level === 40)).toHaveLength(1);
    expect(failed().filter((line) => line.level === 20).length).toBe(failed().length - 1);
    expect(lines.filter((line) => line.level === 30)).toEqual([expect.objectContaining({ msg: expect.stringMatching(/^webhook delivery runs work again/) })]);
  });
});
