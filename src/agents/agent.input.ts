import { z } from 'zod';
import type { AgentKindColumn } from '../db/database.js';
import { plainText, storableInstant } from '../shared/input.js';

/** The kinds of API.md, as GraphQL names them, and as stored. */
export const AGENT_KINDS = { AI_AGENT: 'ai_agent', SERVICE: 'service', BOT: 'bot' } as const satisfies Record<string, AgentKindColumn>;

/** Longest grace period a rotation may give the old secret: 30 days. */
const MAX_GRACE_SECONDS = 30 * 24 * 3_600;

/** `registerAgent`'s input; the ceiling's grammar and the owner are checked by the service. */
export const registerAgentSchema = z.object({
  name: plainText(200),
  kind: z.enum(Object.keys(AGENT_KINDS) as [keyof typeof AGENT_KINDS]).transform((kind) => AGENT_KINDS[kind]),
  allowedScopes: z.array(z.string().max(128)),
  description: plainText(2_000).nullish(),
  // An empty id names no one: refused here, not taken for "left out" by one check and as an id by another.
  ownerUserId: z.string().min(1, 'must be a user id').max(64).nullish(),
  parentAgentId: z.string().min(1, 'must be an agent id').max(128).nullish(),
  expiresAt: storableInstant().nullish(),
});

export type RegisterAgentInput = z.input<typeof registerAgentSchema>;

/** `rotateAgentSecret`'s grace period: whole seconds up to 30 days; left out, 0 (the old secret stops at once). */
export const gracePeriodSchema = z
  .number()
  .int('must be a whole number of seconds')
  .min(0, 'must not be negative')
  .max(MAX_GRACE_SECONDS, `must be at most ${MAX_GRACE_SECONDS} seconds (30 days)`)
  .nullish()
  .transform((value) => value ?? 0);
