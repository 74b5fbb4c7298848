import type { Migration } from 'kysely';
import * as m0001 from './0001_foundation.js';

/** Every migration, in order. A new migration is a new file here; an applied one never changes. */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
};
