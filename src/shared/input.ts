import { z } from 'zod';
import { BadUserInputError } from './errors.js';

/**
 * Parses a mutation's input with its schema.
 * @throws BadUserInputError naming the first bad field as `input.<path>`, with the schema's words.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new BadUserInputError(['input', ...issue.path].join('.'), issue.message);
}

/** Trimmed, non-empty text of at most `max` characters, with no control characters. */
export const plainText = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must have at most ${max} characters`)
    // eslint-disable-next-line no-control-regex
    .refine((value) => !/[\u0000-\u001f\u007f]/.test(value), 'must not contain control characters');

/**
 * True when PostgreSQL can store the text as given in `text` and `jsonb`: it refuses U+0000, and
 * UTF-16 surrogates without their pair (JSON can carry both as escapes).
 */
export function isStorableText(text: string): boolean {
  return text.isWellFormed() && !text.includes('\u0000');
}

/** The text as PostgreSQL can store it: what `isStorableText` refuses becomes U+FFFD. */
export function storableText(text: string): string {
  return text.toWellFormed().replaceAll('\u0000', '\uFFFD');
}
