/**
 * Whether `step` resolved within `deadlineMs`: false once the deadline passed first, with `step`
 * left running; rejects as `step` does. For waits that must end (a close while the database
 * answers nothing).
 */
export async function resolvedWithin(step: Promise<unknown>, deadlineMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), deadlineMs)));
  return Promise.race([step.then(() => true), late]).finally(() => clearTimeout(timer));
}
