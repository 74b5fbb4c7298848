import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Services } from '../app.js';
import { decideDataSubjectRequest, EXPORT_SCOPES } from '../authz/privacy-access.js';
import type { Principal } from '../authz/principal.js';
import { auditCaller } from '../audit/audit.service.js';
import { bearerChallenge, refuseWithChallenge, type BearerRefusal } from '../http/bearer.js';
import { answerHeadersOnly } from '../http/head.js';
import { EXPORT_STALL_TIMEOUT_MS, cutOffWhenStalled, releasedBodies } from '../http/released-body.js';
import { resourceMetadataUrl } from '../oauth/discovery.js';
import { NotFoundError } from '../shared/errors.js';
import { isId } from '../shared/ids.js';
import { findExportSubject } from './export.queries.js';
import { exportUserData, limitPageReads } from './export.service.js';

/**
 * Exports one caller (a user, or an operator client) may stream at once on one instance: a reader
 * that reads slowly holds its export open for as long as it likes, so what one caller holds is
 * bounded here, and what every export reads at once by `limitPageReads`. The number open is
 * bounded by `Config.maxDataExports` alone, far above what people ask for at once: each open export
 * holds its connection and up to two pages of the document in memory, and accounts cost an
 * attacker a sign-up each, so without it enough of them, each holding one export and reading a
 * byte now and then, would hold as much of the instance as they liked.
 */
const MAX_EXPORTS_PER_CALLER = 1;
const RETRY_AFTER_SECONDS = 5;

export interface ExportRoutesOptions {
  /** `EXPORT_STALL_TIMEOUT_MS` unless given. */
  readonly stallTimeoutMs?: number;
}

/**
 * `GET /users/:id/export`: everything about one person as one JSON document (see
 * `exportUserData`), streamed in constant memory. Steps, each refusing by default: a bearer
 * token (401), one the hub accepts (401 invalid_token), a caller within their allowance of
 * requests (429 with Retry-After, `registerRateLimit`), the user themself with a token that reads
 * every data category or an operator client with `users:admin` and those scopes (403 insufficient_scope naming the
 * scopes wanted; see `decideDataSubjectRequest`; audited as a refused `data.exported`), an id of the shape of a user id (400), a free
 * export slot of the caller (429 with Retry-After), room among the exports open on the instance
 * (503 with Retry-After, `Config.maxDataExports`), a user that exists and is not erased (404);
 * then the document. The slot is held until the body ends, fails or its reader
 * leaves, or its connection moves no byte for `stallTimeoutMs`. A HEAD makes the same checks up to
 * the slot and answers the document's headers, reading and auditing none of it.
 */
export async function registerExportRoutes(app: FastifyInstance, services: Services, options: ExportRoutesOptions = {}): Promise<void> {
  const { stallTimeoutMs = EXPORT_STALL_TIMEOUT_MS } = options;
  const challenge = (refusal?: BearerRefusal) => bearerChallenge(resourceMetadataUrl(services.config), refusal);
  const releasedBody = releasedBodies(app);
  // Every caller's exports read their pages through the same turns.
  const reads = limitPageReads();
  const byCaller = new Map<string, number>();
  const { maxDataExports } = services.config;
  let open = 0;
  app.get<{ Params: { id: string } }>('/users/:id/export', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const { principal } = request;
    if (principal.kind === 'anonymous') return refuseWithChallenge(reply, 401, challenge(), 'unauthorized', 'a bearer token is required');
    const { id } = request.params;
    const decision = decideDataSubjectRequest(principal, id);
    if (!decision.allowed) {
      // In the person's own audit trail when there is one; an id that names no one opens no chain.
      const subject = isId('usr', id) ? await findExportSubject(services.db, id) : undefined;
      services.audit.record({
        action: 'data.exported',
        ...auditCaller(principal, request.id),
        subjectUserId: subject?.id ?? null,
        decision: 'DENY',
        reason: decision.reason,
      });
      if (principal.kind === 'user' && decision.reason === 'MISSING_SCOPE') {
        return refuseWithChallenge(reply, 403, challenge({ error: 'insufficient_scope', scope: EXPORT_SCOPES.join(' ') }), 'insufficient_scope', 'an export needs a token that reads every data category');
      }
      const operatorScope = ['users:admin', ...EXPORT_SCOPES].join(' ');
      return refuseWithChallenge(reply, 403, challenge({ error: 'insufficient_scope', scope: operatorScope }), 'insufficient_scope', 'only the user themself, or users:admin with the read scope of every data category, may export a user');
    }
    if (!isId('usr', id)) return reply.code(400).send({ error: 'invalid_request', error_description: 'id must be a user id (usr_ and 26 characters)' });
    if (request.method === 'HEAD') {
      // Answered here, from the checks a GET makes: Fastify's HEAD route would read the whole
      // document to nowhere, and it would be audited as exported though nothing left.
      if (!(await findExportSubject(services.db, id))) return notFound(reply);
      return answerHeadersOnly(asDocument(reply, id));
    }
    const caller = callerKey(principal);
    const callersRunning = byCaller.get(caller) ?? 0;
    if (callersRunning >= MAX_EXPORTS_PER_CALLER) {
      return reply.code(429).header('retry-after', String(RETRY_AFTER_SECONDS)).send({ error: 'too_many_requests', error_description: 'an export of this caller is running; retry later' });
    }
    if (open >= maxDataExports) {
      return reply
        .code(503)
        .header('retry-after', String(RETRY_AFTER_SECONDS))
        .send({ error: 'temporarily_unavailable', error_description: `at most ${maxDataExports} data exports may run at once on this instance; retry later` });
    }
    byCaller.set(caller, callersRunning + 1);
    open += 1;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      open -= 1;
      const left = byCaller.get(caller)! - 1;
      if (left === 0) byCaller.delete(caller);
      else byCaller.set(caller, left);
    };
    let chunks: AsyncGenerator<string>;
    try {
      chunks = await exportUserData(services, { principal, requestId: request.id }, id, request.recheckToken, reads);
    } catch (error) {
      release();
      if (!(error instanceof NotFoundError)) throw error;
      return notFound(reply);
    }
    cutOffWhenStalled(request, reply, stallTimeoutMs);
    return asDocument(reply, id).send(releasedBody(chunks, release));
  });
}

/** The headers of the export document of user `id`: a JSON file to save. */
function asDocument(reply: FastifyReply, id: string): FastifyReply {
  return reply.header('content-type', 'application/json; charset=utf-8').header('content-disposition', `attachment; filename="${id}.json"`);
}

function notFound(reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ error: 'not_found', error_description: 'no such user' });
}

/** Whom an export slot is counted against: the user, or the client acting as itself (the callers allowed one). */
function callerKey(principal: Principal): string {
  if (principal.kind === 'user') return `user:${principal.userId}`;
  return principal.kind === 'anonymous' ? 'anonymous' : `client:${principal.clientId}`;
}
