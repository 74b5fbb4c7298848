import type { ColumnType, Generated } from 'kysely';

/**
 * The database as Kysely sees it: one interface per table, snake_case as in SQL.
 * Rows are mapped to domain shapes in each domain's `*.queries.ts`.
 */
export interface Database {
  users: UsersTable;
  orders: OrdersTable;
  payment_methods: PaymentMethodsTable;
  signing_keys: SigningKeysTable;
  refresh_tokens: RefreshTokensTable;
  sign_in_throttle: SignInThrottleTable;
  audit_events: AuditEventsTable;
  audit_chain_heads: AuditChainHeadsTable;
}

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T> = ColumnType<T, string, string>;

export interface UsersTable {
  id: string;
  status: Generated<'active' | 'suspended' | 'erased'>;
  email: string | null;
  email_verified: Generated<boolean>;
  password_hash: string | null;
  phone: string | null;
  given_name: string | null;
  family_name: string | null;
  /** 'YYYY-MM-DD'. */
  birthdate: string | null;
  locale: string | null;
  country: string | null;
  address: Json<AddressJson | null> | null;
  preferences: ColumnType<PreferencesJson, string | undefined, string>;
  loyalty_tier: string | null;
  loyalty_points: Generated<number>;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  last_login_at: Timestamp | null;
}

export interface AddressJson {
  line1: string;
  line2?: string | null;
  city: string;
  region?: string | null;
  postalCode: string;
  country: string;
}

export interface PreferencesJson {
  channels?: string[];
  interests?: string[];
  sizes?: Record<string, string>;
  tags?: string[];
}

export interface OrdersTable {
  id: string;
  user_id: string;
  placed_at: Timestamp;
  total_minor: number;
  currency: string;
  status: 'pending' | 'paid' | 'shipped' | 'delivered' | 'cancelled' | 'refunded';
  line_items: ColumnType<LineItemJson[], string | undefined, string>;
}

export interface LineItemJson {
  sku: string;
  name: string;
  quantity: number;
  unitPriceMinor: number;
}

export interface PaymentMethodsTable {
  id: string;
  user_id: string;
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
  created_at: CreatedAt;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  public_jwk: ColumnType<Record<string, unknown>, string, never>;
  private_key_encrypted: ColumnType<Buffer, Buffer, never>;
  created_at: CreatedAt;
  retired_at: Timestamp | null;
}

export interface RefreshTokensTable {
  id: string;
  family_id: string;
  token_hash: Buffer;
  user_id: string;
  client_id: string;
  scope: string;
  auth_time: Timestamp;
  created_at: CreatedAt;
  expires_at: Timestamp;
  rotated_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface SignInThrottleTable {
  key: string;
  failures: number;
  window_started_at: Timestamp;
}

/** Append-only: every column is insert-only, and the database refuses UPDATE, DELETE and TRUNCATE. */
export interface AuditEventsTable {
  id: ColumnType<string, string, never>;
  occurred_at: ColumnType<Date, Date | string, never>;
  action: ColumnType<string, string, never>;
  actor_kind: ColumnType<'user' | 'delegated' | 'client' | 'anonymous' | 'system', 'user' | 'delegated' | 'client' | 'anonymous' | 'system', never>;
  actor_id: ColumnType<string | null, string | null, never>;
  actor_chain: ColumnType<string[], string[], never>;
  subject_user_id: ColumnType<string | null, string | null, never>;
  client_id: ColumnType<string | null, string | null, never>;
  purpose: ColumnType<string | null, string | null, never>;
  consent_id: ColumnType<string | null, string | null, never>;
  fields_read: ColumnType<string[], string[], never>;
  fields_denied: ColumnType<string[], string[], never>;
  decision: ColumnType<'allow' | 'deny', 'allow' | 'deny', never>;
  reason: ColumnType<string | null, string | null, never>;
  request_id: ColumnType<string | null, string | null, never>;
  detail: ColumnType<Record<string, unknown>, string, never>;
  chain_key: ColumnType<string, string, never>;
  chain_seq: ColumnType<number, number, never>;
  /** A Buffer from `pg`, a Uint8Array from PGlite. */
  prev_hash: ColumnType<Uint8Array, Uint8Array, never>;
  hash: ColumnType<Uint8Array, Uint8Array, never>;
}

export interface AuditChainHeadsTable {
  chain_key: string;
  seq: number;
  hash: Uint8Array;
}
