/**
 * The scope grammar of API.md: `<category>:<read|write>` covers every field of a category,
 * `<category>.<field>:<read|write>` covers one field.
 */
export const DATA_CATEGORIES = {
  profile: ['id', 'locale', 'country', 'createdAt', 'updatedAt', 'lastLoginAt'],
  contact: ['email', 'emailVerified', 'phone'],
  identity: ['givenName', 'familyName', 'birthdate'],
  address: ['address'],
  preferences: ['preferences'],
  orders: ['orders'],
  payment: ['paymentMethods'],
  loyalty: ['loyalty'],
} as const satisfies Record<string, readonly string[]>;

export type DataCategory = keyof typeof DATA_CATEGORIES;
export type Access = 'read' | 'write';

/** One profile field as the grammar names it: its category and its field. */
export interface FieldRef {
  readonly category: DataCategory;
  readonly field: string;
}

/** One key a filter uses and the field it selects on: setting the key is a read of that field. */
export interface FilterRead<Key extends string = string> {
  readonly key: Key;
  readonly ref: FieldRef;
}

export const ALL_CATEGORIES = Object.keys(DATA_CATEGORIES) as DataCategory[];

/** Every data scope, read and write, by category: what a user's own token carries. */
export const ALL_DATA_SCOPES: readonly string[] = ALL_CATEGORIES.flatMap((c) => [`${c}:read`, `${c}:write`]);

/**
 * True for a user's session as sign-in issues it (`ALL_DATA_SCOPES`), false for one narrowed at
 * refresh (a token handed to a widget): what acts that are more than any one data scope allows
 * (erasing the account, managing the user's agents) ask of a user's token.
 */
export function holdsEveryDataScope(scopes: ReadonlySet<string>): boolean {
  return ALL_DATA_SCOPES.every((scope) => scopes.has(scope));
}

/** True when `scopes` holds the category scope or the single-field scope for this access. */
export function scopesCover(scopes: ReadonlySet<string>, ref: FieldRef, access: Access): boolean {
  return scopes.has(`${ref.category}:${access}`) || scopes.has(`${ref.category}.${ref.field}:${access}`);
}

/**
 * Does reading this field take a data scope? Not `id`, though the grammar puts it in `profile`: it
 * is the key the caller reached the user by (the id it asked for, or one a list it may read shows),
 * so `User.id` declares no scope, and no read of it uses one.
 */
export function readNeedsScope(field: string): boolean {
  return field !== 'id';
}

/** The category a User field belongs to; undefined for fields outside the data categories. */
export function categoryOf(field: string): DataCategory | undefined {
  return ALL_CATEGORIES.find((c) => (DATA_CATEGORIES[c] as readonly string[]).includes(field));
}

/** True when `scope` is a well-formed data scope of the grammar. */
export function isDataScope(scope: string): boolean {
  const match = /^([a-z]+)(?:\.([A-Za-z]+))?:(read|write)$/.exec(scope);
  if (!match) return false;
  const category = match[1] as DataCategory;
  // Own keys only: `in` would also find what every object inherits (`constructor:read`).
  if (!Object.hasOwn(DATA_CATEGORIES, category)) return false;
  return match[2] === undefined || (DATA_CATEGORIES[category] as readonly string[]).includes(match[2]);
}

/**
 * True when `scope` asks for no more than `granted` holds: the same scope, or a single-field
 * scope whose category scope was granted. Operator scopes only by name.
 */
export function scopeWithin(scope: string, granted: ReadonlySet<string>): boolean {
  if (granted.has(scope)) return true;
  const field = /^([a-z]+)\.[A-Za-z]+:(read|write)$/.exec(scope);
  return field !== null && isDataScope(scope) && granted.has(`${field[1]}:${field[2]}`);
}

/**
 * Not a data scope: in an agent's ceiling it lets the agent ask a token exchange for a refresh
 * token (delegated access that outlives the user's session); it never appears in an access token.
 */
export const OFFLINE_ACCESS = 'offline_access';

/**
 * Does an agent's ceiling let its token exchanges answer a refresh token (`offline_access`)? The
 * one rule the exchange applies, and the consent that grounds such an exchange asks of it.
 */
export const allowsOfflineAccess = (ceiling: readonly string[]): boolean => ceiling.includes(OFFLINE_ACCESS);

/** The scopes of a space-separated `scope` string, each once, in order. */
export function parseScope(scope: string | undefined): string[] {
  return [...new Set((scope ?? '').split(' ').filter(Boolean))];
}
