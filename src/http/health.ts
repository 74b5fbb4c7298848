import type { FastifyInstance } from 'fastify';
import type { AuditWriter } from '../audit/audit.writer.js';
import { isReadOnlyRefusal } from '../db/availability.js';
import type { DatabaseHandle } from '../db/connect.js';

/**
 * `/healthz`: the process is up. `/readyz`: requests can be served: the database answers and takes writes, and
 * audit events are not so far behind that requests are turned away (`AuditWriter.backlogged`), so
 * a load balancer sends them to another instance meanwhile.
 */
export function registerHealth(app: FastifyInstance, database: DatabaseHandle, audit?: Pick<AuditWriter, 'backlogged'>): void {
  // Probes arriving while a ping is under way share it: anyone may ask, as often as they like, and
  // a ping given up on at its timeout still waits for a connection of the requests' pool, so one
  // per probe would queue probes ahead of the requests on a busy database. Nothing is kept once it
  // settles: the next probe asks anew.
  let pinging: Promise<void> | undefined;
  const ping = () => (pinging ??= database.ping(1_000).finally(() => (pinging = undefined)));
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (audit?.backlogged) return reply.code(503).send({ status: 'unavailable', reason: 'audit events waiting to be written' });
    try {
      await ping();
      return { status: 'ready' };
    } catch (error) {
      const readOnly = isReadOnlyRefusal(error);
      return reply.code(503).send({ status: 'unavailable', reason: readOnly ? 'database accepts no writes' : 'database unreachable' });
    }
  });
}
