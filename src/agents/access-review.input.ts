import { z } from 'zod';
import { BadUserInputError } from '../shared/errors.js';

/** A whole number of days within bounds; left out or null, the default. */
const days = (min: number, max: number, fallback: number) =>
  z
    .number()
    .int('must be a whole number of days')
    .min(min, `must be from ${min} to ${max} days`)
    .max(max, `must be from ${min} to ${max} days`)
    .nullish()
    .transform((value) => value ?? fallback);

/**
 * The arguments of `accessReview`. The window is at most a year: the audit trail is partitioned
 * by month, so a review scans at most 13 partitions of agent reads.
 */
const accessReviewSchema = z.object({
  /** An agent not used for this long is reported as unused; also the window of scope use. */
  unusedForDays: days(1, 365, 90),
  /** A client secret older than this is reported as due for rotation. */
  rotationAgeDays: days(1, 3_650, 90),
  /** An agent whose expiry falls within this many days is reported as expiring soon. */
  expiringWithinDays: days(1, 365, 14),
});

export type AccessReviewInput = z.input<typeof accessReviewSchema>;
export type AccessReviewOptions = z.output<typeof accessReviewSchema>;

/**
 * Parses the review's arguments.
 * @throws BadUserInputError naming the first bad argument.
 */
export function parseAccessReviewInput(input: AccessReviewInput): AccessReviewOptions {
  const parsed = accessReviewSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new BadUserInputError(String(issue.path[0] ?? 'unusedForDays'), issue.message);
}
