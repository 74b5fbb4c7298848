import type { FastifyInstance } from 'fastify';

/**
 * The methods the routes of `path` take, in order, for the Allow field of a 405 (RFC 9110
 * §10.2.1): read from the router, so a route added later is covered with no list to keep, HEAD
 * beside GET where Fastify answers it. Never OPTIONS: the hub answers it only as a CORS preflight,
 * whose hook answers before any route (@fastify/cors's wildcard OPTIONS route takes every path),
 * and Apollo refuses any other with 405 itself. Empty for a path no route takes. Only for a path
 * the router reads: one it cannot (not percent-encoded UTF-8) it refuses before the not-found
 * handler, whatever the method, and its lookup would hand that refusal back as a route.
 */
export function allowedMethods(app: FastifyInstance, path: string): string[] {
  return app.supportedMethods.filter((method) => method !== 'OPTIONS' && app.findRoute({ method, url: path }) !== null).sort();
}
