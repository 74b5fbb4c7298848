import { builder } from './builder.js';
import '../identity/user.schema.js';
import '../identity/identity.schema.js';
import '../audit/audit.schema.js';
import '../agents/agent.schema.js';
import '../agents/agent-consents.schema.js';
import '../agents/access-review.schema.js';
import '../consent/consent.schema.js';
import '../consent/consent-self-service.schema.js';
import '../consent/approval.schema.js';
import '../consent/approval.payment.schema.js';
import '../audiences/audience.schema.js';
import '../audiences/saved-audience.schema.js';
import '../webhooks/webhook.schema.js';
import '../webhooks/webhook-mutations.schema.js';
import '../privacy/privacy.schema.js';

/** The executable schema: every domain's types, registered by import. */
export const schema = builder.toSchema({ sortSchema: true });
