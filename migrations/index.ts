import type { Migration } from 'kysely';
import * as m0001 from './0001_foundation.js';
import * as m0002 from './0002_identity.js';
import * as m0003 from './0003_audit.js';
import * as m0004 from './0004_agents.js';
import * as m0005 from './0005_consent_ledger.js';
import * as m0006 from './0006_audiences.js';
import * as m0007 from './0007_audience_speed.js';
import * as m0008 from './0008_webhooks.js';
import * as m0009 from './0009_access_review.js';
import * as m0010 from './0010_delegated_from.js';
import * as m0011 from './0011_audience_resync_lock.js';
import * as m0012 from './0012_loyalty_offers.js';
import * as m0013 from './0013_agent_suspended_by.js';
import * as m0014 from './0014_exchanged_subject_tokens.js';
import * as m0015 from './0015_webhook_failing.js';
import * as m0016 from './0016_sign_in_throttle_window.js';
import * as m0017 from './0017_audience_company_consents.js';
import * as m0018 from './0018_webhook_due_per_subscription.js';
import * as m0019 from './0019_entry_hmac_key.js';
import * as m0020 from './0020_audience_orders_lock.js';
import * as m0021 from './0021_agent_reads_audiences.js';
import * as m0022 from './0022_sub_agent_expiry.js';
import * as m0023 from './0023_refresh_token_pruning.js';
import * as m0024 from './0024_webhook_message_person.js';
import * as m0025 from './0025_audience_spend_kept.js';
import * as m0026 from './0026_agent_reads_exports.js';
import * as m0027 from './0027_approval_retention.js';
import * as m0028 from './0028_audit_partitions_as_owner.js';
import * as m0029 from './0029_users_by_country.js';
import * as m0030 from './0030_webhook_deliveries_by_status.js';

/** Every migration, in order. A new migration is a new file here; an applied one never changes. */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0002_identity': m0002,
  '0003_audit': m0003,
  '0004_agents': m0004,
  '0005_consent_ledger': m0005,
  '0006_audiences': m0006,
  '0007_audience_speed': m0007,
  '0008_webhooks': m0008,
  '0009_access_review': m0009,
  '0010_delegated_from': m0010,
  '0011_audience_resync_lock': m0011,
  '0012_loyalty_offers': m0012,
  '0013_agent_suspended_by': m0013,
  '0014_exchanged_subject_tokens': m0014,
  '0015_webhook_failing': m0015,
  '0016_sign_in_throttle_window': m0016,
  '0017_audience_company_consents': m0017,
  '0018_webhook_due_per_subscription': m0018,
  '0019_entry_hmac_key': m0019,
  '0020_audience_orders_lock': m0020,
  '0021_agent_reads_audiences': m0021,
  '0022_sub_agent_expiry': m0022,
  '0023_refresh_token_pruning': m0023,
  '0024_webhook_message_person': m0024,
  '0025_audience_spend_kept': m0025,
  '0026_agent_reads_exports': m0026,
  '0027_approval_retention': m0027,
  '0028_audit_partitions_as_owner': m0028,
  '0029_users_by_country': m0029,
  '0030_webhook_deliveries_by_status': m0030,
};
