import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Services } from '../app.js';
import { decideAudienceAccess } from '../authz/audience-access.js';
import type { Principal } from '../authz/principal.js';
import { bearerChallenge, refuseWithChallenge, type BearerRefusal } from '../http/bearer.js';
import { answerHeadersOnly } from '../http/head.js';
import { EXPORT_STALL_TIMEOUT_MS, cutOffWhenStalled, releasedBodies } from '../http/released-body.js';
import { resourceMetadataUrl } from '../oauth/discovery.js';
import { BadUserInputError, ForbiddenError, NotFoundError } from '../shared/errors.js';
import { exportBatchFor, exportSavedAudience, permitSavedAudienceExport } from './audience.export.js';
import { HeldLinesFullError, holdLines } from './audience.held-lines.js';
import { AudienceReadsBusyError } from './audience.reads.js';

/**
 * Exports one client may run at once on one instance, past which 429: exports of every client
 * share the turns of `Services.audienceReads` with audience queries, so one client running many
 * would slow every other's.
 */
export const MAX_EXPORTS_PER_CLIENT = 2;
const RETRY_AFTER_SECONDS = 5;

export interface AudienceRoutesOptions {
  /** `EXPORT_STALL_TIMEOUT_MS` unless given. */
  readonly stallTimeoutMs?: number;
}

/**
 * `GET /audiences/:id/export`: a saved audience as newline-delimited JSON, streamed in constant
 * memory. Steps, each refusing by default: a bearer token (401), one the hub accepts (401
 * invalid_token), a client with `audience:read` (403 insufficient_scope), a free export slot of
 * that client (429 with Retry-After), an audience that this client saved (404), a saved filter
 * that still holds under the filter's rules (409: one saved before they grew stricter) and that
 * the token and the purpose still cover (403), a first batch read (an error status, before any
 * line: 503 with Retry-After when it found no turn in time); then the lines. The slot is held until the body ends, fails or its reader leaves, or its
 * connection moves no byte for `stallTimeoutMs`. A HEAD makes the same checks but the slot and
 * answers the headers, reading and auditing nothing.
 */
export async function registerAudienceRoutes(app: FastifyInstance, services: Services, options: AudienceRoutesOptions = {}): Promise<void> {
  const { stallTimeoutMs = EXPORT_STALL_TIMEOUT_MS } = options;
  const challenge = (refusal?: BearerRefusal) => bearerChallenge(resourceMetadataUrl(services.config), refusal);
  const slots = exportSlots(MAX_EXPORTS_PER_CLIENT);
  // The lines every client's exports hold, to as many MiB as unread GraphQL answers may hold.
  const heldBound = services.config.maxUnreadAnswersMib * 2 ** 20;
  const held = holdLines(heldBound);
  const batchSize = exportBatchFor(heldBound);
  const releasedBody = releasedBodies(app);
  app.get<{ Params: { id: string } }>('/audiences/:id/export', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const { principal } = request;
    if (principal.kind === 'anonymous') return refuseWithChallenge(reply, 401, challenge(), 'unauthorized', 'a bearer token is required');
    if (!decideAudienceAccess(principal).allowed) {
      return refuseWithChallenge(reply, 403, challenge({ error: 'insufficient_scope', scope: 'audience:read' }), 'insufficient_scope', 'audience:read is required');
    }
    const caller = { principal, requestId: request.id };
    if (request.method === 'HEAD') {
      // Answered from the checks alone: Fastify's HEAD route would read every member to nowhere
      // and audit an export of them though nothing left.
      try {
        await permitSavedAudienceExport(services, caller, request.params.id);
      } catch (error) {
        return refused(reply, error, challenge);
      }
      return answerHeadersOnly(asLines(reply, request.params.id));
    }
    const release = slots.take(principal);
    if (!release) {
      return reply
        .code(429)
        .header('retry-after', String(RETRY_AFTER_SECONDS))
        .send({ error: 'too_many_requests', error_description: `at most ${MAX_EXPORTS_PER_CLIENT} exports of one client may run at once; retry later` });
    }
    let lines: AsyncGenerator<string>;
    try {
      lines = await exportSavedAudience(services, caller, request.params.id, { batchSize, reads: services.audienceReads(principal.clientId), recheckToken: request.recheckToken, held });
    } catch (error) {
      release();
      return refused(reply, error, challenge);
    }
    cutOffWhenStalled(request, reply, stallTimeoutMs);
    return asLines(reply, request.params.id).send(releasedBody(lines, release));
  });
}

/** The answer to an export refused before its first line; @throws what is not a refusal. */
function refused(reply: FastifyReply, error: unknown, challenge: (refusal: BearerRefusal) => string): FastifyReply {
  if (error instanceof NotFoundError) return reply.code(404).send({ error: 'not_found', error_description: 'no such audience' });
  if (error instanceof BadUserInputError) {
    return reply.code(409).send({ error: 'invalid_filter', error_description: `the saved filter no longer holds (${error.message}): save the audience again` });
  }
  // A saved filter on a field this token or the purpose as it is now does not cover.
  if (error instanceof ForbiddenError) {
    if (error.reason === 'MISSING_SCOPE') return refuseWithChallenge(reply, 403, challenge({ error: 'insufficient_scope' }), 'insufficient_scope', error.message);
    return reply.code(403).send({ error: 'access_denied', error_description: error.message });
  }
  // The instance's turns of audience statements were all taken for as long as a statement may
  // run, or its exports hold as many lines as it keeps.
  if (error instanceof AudienceReadsBusyError || error instanceof HeldLinesFullError) {
    return reply.code(503).header('retry-after', String(error.retryAfterSeconds)).send({ error: 'temporarily_unavailable', error_description: error.message });
  }
  throw error;
}

/** The headers of the export of audience `id`: newline-delimited JSON to save. */
function asLines(reply: FastifyReply, id: string): FastifyReply {
  return reply.header('content-type', 'application/x-ndjson; charset=utf-8').header('content-disposition', `attachment; filename="${id}.ndjson"`);
}

/**
 * Exports running per client (the token's client id) on this instance. `take` answers the release
 * of a free slot, which frees it once however often it is called, or undefined when none is free.
 */
function exportSlots(max: number) {
  const running = new Map<string, number>();
  return {
    take(principal: Principal): (() => void) | undefined {
      const client = principal.kind === 'anonymous' ? '' : principal.clientId;
      const taken = running.get(client) ?? 0;
      if (taken >= max) return undefined;
      running.set(client, taken + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = running.get(client)! - 1;
        if (left === 0) running.delete(client);
        else running.set(client, left);
      };
    },
  };
}
