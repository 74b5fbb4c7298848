import type { ColumnType, Generated } from 'kysely';
import type { AuditChainHeadsTable, AuditEventsTable } from './audit-tables.js';

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
  agents: AgentsTable;
  agent_secrets: AgentSecretsTable;
  consents: ConsentsTable;
  consent_events: ConsentEventsTable;
  revoked_tokens: RevokedTokensTable;
  exchanged_subject_tokens: ExchangedSubjectTokensTable;
  purposes: PurposesTable;
  approvals: ApprovalsTable;
  audience_members: AudienceMembersTable;
  saved_audiences: SavedAudiencesTable;
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
  /**
   * The key of the HMACs that name the person's payment entries in the audit trail (see
   * `authorizationDetailHmac`): 32 random bytes, null until first needed and again once erased.
   * A Buffer from `pg`, a Uint8Array from PGlite.
   */
  entry_hmac_key: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
}

export interface AddressJson {
  line1: string;
  line2?: string | null;
  city: string;
  region?: string | null;
  postalCode: string | null;
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
  /** The consent a delegated refresh token was issued under; null for a user's own session. */
  consent_id: ColumnType<string | null, string | null | undefined, never>;
  /** The acting agents of a delegated refresh token, nearest first; empty for a user's own session. */
  actor_chain: ColumnType<string[], string[] | undefined, never>;
  /**
   * The `delegated_from` claim of the family's access tokens (migration 0010): the `jti` and
   * family (`sid`) of every token it was exchanged from, nearest first; empty unless the family
   * was exchanged from a delegated token. Written as JSON text.
   */
  delegated_from: ColumnType<{ jti: string; sid?: string }[], string | undefined, never>;
  /** Whether the token's text names this row and its family under the hub's MAC (migration 0023). */
  named_in_token: ColumnType<boolean, boolean | undefined, never>;
}

export interface SignInThrottleTable {
  key: string;
  failures: number;
  window_started_at: Timestamp;
}

export type AgentKindColumn = 'ai_agent' | 'service' | 'bot';
export type AgentStatusColumn = 'active' | 'suspended' | 'decommissioned';
/** Whose suspension it is: an operator's binds the owner too. Set exactly while suspended. */
export type SuspendedByColumn = 'operator' | 'owner';

export interface AgentsTable {
  id: ColumnType<string, string, never>;
  name: string;
  kind: AgentKindColumn;
  description: string | null;
  status: ColumnType<AgentStatusColumn, AgentStatusColumn | undefined, AgentStatusColumn>;
  suspended_by: ColumnType<SuspendedByColumn | null, SuspendedByColumn | null | undefined, SuspendedByColumn | null>;
  allowed_scopes: string[];
  owner_kind: ColumnType<'operator' | 'user', 'operator' | 'user', never>;
  owner_user_id: ColumnType<string | null, string | null, never>;
  parent_agent_id: ColumnType<string | null, string | null, never>;
  /** Parent first, then its parent, …; fixed at registration. */
  ancestor_ids: ColumnType<string[], string[] | undefined, never>;
  is_operator: Generated<boolean>;
  created_at: CreatedAt;
  expires_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

export interface AgentSecretsTable {
  agent_id: string;
  /** A Buffer from `pg`, a Uint8Array from PGlite. */
  secret_hash: ColumnType<Uint8Array, Buffer, never>;
  created_at: CreatedAt;
  expires_at: Timestamp | null;
}

export interface ConsentsTable {
  id: ColumnType<string, string, never>;
  user_id: ColumnType<string, string, never>;
  purpose: ColumnType<string, string, never>;
  agent_id: ColumnType<string | null, string | null, never>;
  scopes: ColumnType<string[], string[], never>;
  status: ColumnType<'active' | 'withdrawn' | 'expired', 'active' | undefined, 'withdrawn' | 'expired'>;
  given_at: ColumnType<Date, Date, never>;
  expires_at: ColumnType<Date | null, Date | null, never>;
  withdrawn_at: Timestamp | null;
  collection_method: ColumnType<string, string, never>;
  policy_version: ColumnType<string, string, never>;
  /** The signed receipt (compact JWS); null only for consents given before receipts existed. */
  receipt: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Append-only: the database refuses UPDATE, DELETE and TRUNCATE. */
export interface ConsentEventsTable {
  id: Generated<number>;
  consent_id: ColumnType<string, string, never>;
  user_id: ColumnType<string, string, never>;
  kind: ColumnType<'given' | 'withdrawn' | 'expired', 'given' | 'withdrawn' | 'expired', never>;
  occurred_at: ColumnType<Date, Date, never>;
  actor_kind: ColumnType<string, string, never>;
  actor_id: ColumnType<string | null, string | null, never>;
  detail: ColumnType<Record<string, unknown>, string, never>;
}

export interface RevokedTokensTable {
  jti: string;
  client_id: string;
  expires_at: Timestamp;
  revoked_at: Timestamp;
}

/**
 * The user access tokens handed to an agent as the `subject_token` of a token exchange, by `jti`,
 * until they expire (migration 0014): the token check refuses them as bearer tokens.
 */
export interface ExchangedSubjectTokensTable {
  jti: string;
  /** The first agent the token was handed to. */
  agent_id: string;
  expires_at: Timestamp;
  exchanged_at: Timestamp;
}

/** Every version of every purpose; a change is a new row with the next version. */
export interface PurposesTable {
  key: ColumnType<string, string, never>;
  version: ColumnType<number, number, never>;
  title: ColumnType<string, string, never>;
  description: ColumnType<string, string, never>;
  lawful_basis: ColumnType<string, string, never>;
  data_categories: ColumnType<string[], string[], never>;
  notice_url: ColumnType<string, string, never>;
  notice_text: ColumnType<string, string, never>;
  notice_sha256: ColumnType<string, string, never>;
  language: ColumnType<string, string | undefined, never>;
  jurisdiction: ColumnType<string, string | undefined, never>;
  created_at: CreatedAt;
}

export type ApprovalStatusColumn = 'pending' | 'approved' | 'denied' | 'used';

export interface ApprovalsTable {
  id: ColumnType<string, string, never>;
  user_id: ColumnType<string, string, never>;
  agent_id: ColumnType<string, string, never>;
  consent_id: ColumnType<string | null, string | null, never>;
  authorization_details: ColumnType<Record<string, unknown>, string, never>;
  status: ColumnType<ApprovalStatusColumn, ApprovalStatusColumn | undefined, ApprovalStatusColumn>;
  created_at: ColumnType<Date, Date, never>;
  /** Set at the request; moved to the time of a password change that ends an approved, unused one. */
  expires_at: ColumnType<Date, Date, Date>;
  decided_at: Timestamp | null;
  used_at: Timestamp | null;
}

/**
 * One row per live company consent of an active user, kept by the triggers of migration 0006 (as
 * later migrations amended them); a bulk seed with the triggers off writes the same rows itself
 * (src/audiences/audience.bulk.ts).
 */
export interface AudienceMembersTable {
  purpose: string;
  user_id: string;
  consent_id: string;
  expires_at: Date | null;
  country: string | null;
  locale: string | null;
  loyalty_tier: string | null;
  loyalty_points: number;
  birthdate: string | null;
  signed_up_at: Date;
  interests: string[];
  channels: string[];
  order_count: number;
  order_spend_minor: number;
  last_order_at: Date | null;
}

export interface SavedAudiencesTable {
  id: ColumnType<string, string, never>;
  name: string;
  purpose: string;
  filter: Json<Record<string, unknown>>;
  created_by: string | null;
  created_at: CreatedAt;
}
