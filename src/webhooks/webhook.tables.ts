import type { ColumnType, Generated } from 'kysely';
import type { Db } from '../db/connect.js';

type Timestamp = ColumnType<Date, Date, Date>;

/** The tables of migration 0008, snake_case as in SQL; rows are mapped in the `*.queries.ts` files. */
export type WebhookTables = {
  webhook_subscriptions: WebhookSubscriptionsTable;
  webhook_messages: WebhookMessagesTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
};

/** Why a subscription is disabled: an operator's choice, a 410 Gone, or a receiver failing for days. */
export type DisabledReasonColumn = 'operator' | 'gone' | 'failing';

export type WebhookSubscriptionsTable = {
  id: ColumnType<string, string, never>;
  url: string;
  description: string | null;
  event_types: string[];
  status: 'enabled' | 'disabled';
  disabled_reason: DisabledReasonColumn | null;
  /** A Buffer from `pg`, a Uint8Array from PGlite. */
  secret_sealed: ColumnType<Uint8Array, Buffer, Buffer>;
  previous_secret_sealed: ColumnType<Uint8Array | null, Buffer | null, Buffer | null>;
  previous_secret_expires_at: Timestamp | null;
  created_at: ColumnType<Date, Date, never>;
  updated_at: Timestamp;
};

export type WebhookMessagesTable = {
  id: ColumnType<string, string, never>;
  event_type: ColumnType<string, string, never>;
  body: ColumnType<string, string, never>;
  created_at: ColumnType<Date, Date, never>;
};

export type DeliveryStatusColumn = 'pending' | 'succeeded' | 'failed';
export type DeliveryTriggerColumn = 'scheduled' | 'manual';

export type WebhookDeliveriesTable = {
  subscription_id: ColumnType<string, string, never>;
  message_id: ColumnType<string, string, never>;
  status: DeliveryStatusColumn;
  trigger: DeliveryTriggerColumn;
  attempt_count: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp | null;
  lease_until: Timestamp | null;
  lease_token: string | null;
  last_attempt_at: Timestamp | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Timestamp | null;
  created_at: ColumnType<Date, Date, never>;
};

export type WebhookAttemptsTable = {
  id: Generated<number>;
  subscription_id: ColumnType<string, string, never>;
  message_id: ColumnType<string, string, never>;
  attempt_no: ColumnType<number, number, never>;
  trigger: ColumnType<DeliveryTriggerColumn, DeliveryTriggerColumn, never>;
  attempted_at: ColumnType<Date, Date, never>;
  status_code: ColumnType<number | null, number | null, never>;
  error: ColumnType<string | null, string | null, never>;
  duration_ms: ColumnType<number, number, never>;
  next_attempt_at: ColumnType<Date | null, Date | null, never>;
};

/**
 * The database (or transaction) with the webhook tables added to its type. The tables are the
 * webhooks domain's own, so they are declared here rather than in the shared `Database`.
 */
export const webhookDb = (db: Db) => db.withTables<WebhookTables>();
