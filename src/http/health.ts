import type { FastifyInstance } from 'fastify';
import type { DatabaseHandle } from '../db/connect.js';

/** `/healthz`: the process is up. `/readyz`: the database answers, so requests can be served. */
export function registerHealth(app: FastifyInstance, database: DatabaseHandle): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await database.ping(1_000);
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' });
    }
  });
}
