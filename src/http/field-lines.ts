import type { FastifyRequest } from 'fastify';

/**
 * How many field lines named `name` (lower case) the request's header section holds. Of some
 * fields that take one value (Host, Authorization) Node's `headers` keeps the first line and drops
 * the others, where a proxy in front may have read another: only the raw lines show them.
 */
export function fieldLines(request: FastifyRequest, name: string): number {
  const { rawHeaders } = request.raw;
  let lines = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) lines++;
  return lines;
}
