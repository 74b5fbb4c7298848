/** `at`'s calendar date in UTC, as 'YYYY-MM-DD'. */
export const utcDate = (at: Date): string => at.toISOString().slice(0, 10);

/**
 * The calendar date `years` before `now`'s (UTC), as 'YYYY-MM-DD'. From February 29 into a year
 * without one it is February 28: on the 29th, someone born on the 28th that year has had their
 * birthday and someone born on March 1 has not.
 */
export function yearsBefore(now: Date, years: number): string {
  const year = now.getUTCFullYear() - years;
  const month = now.getUTCMonth();
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return utcDate(new Date(Date.UTC(year, month, Math.min(now.getUTCDate(), lastDay))));
}
