/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
export type Maybe<T> = T | null;
export type InputMaybe<T> = Maybe<T>;
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
  /** A calendar date, 'YYYY-MM-DD' (RFC 3339 full-date). */
  Date: { input: string; output: string; }
  /** A date-time string at UTC, such as 2007-12-03T10:15:30Z, compliant with the `date-time` format outlined in section 5.6 of the RFC 3339 profile of the ISO 8601 standard for representation of dates and times using the Gregorian calendar. */
  DateTime: { input: string; output: string; }
  /** The `JSONObject` scalar type represents JSON objects as specified by [ECMA-404](http://www.ecma-international.org/publications/files/ECMA-ST/ECMA-404.pdf). */
  JSONObject: { input: unknown; output: unknown; }
  /** The `SafeInt` scalar type represents non-fractional signed whole numeric values that are considered safe as defined by the ECMAScript specification. */
  SafeInt: { input: number; output: number; }
};

/** One thing an access review found about one agent, and why. */
export type AccessFinding = {
  __typename?: 'AccessFinding';
  agent: Agent;
  /** The date behind it: last use, the secret’s creation or the expiry. */
  at?: Maybe<Scalars['DateTime']['output']>;
  /** CONSENT_TO_INACTIVE_AGENT: the consents in force naming the agent (see Agent.consents); 0 otherwise. */
  consentCount: Scalars['Int']['output'];
  kind: AccessFindingKind;
  reason: Scalars['String']['output'];
  /** OVER_PRIVILEGED: the data scopes granted and not used in the window; empty otherwise. */
  scopes: Array<Scalars['String']['output']>;
};

export type AccessFindingConnection = {
  __typename?: 'AccessFindingConnection';
  edges: Array<AccessFindingEdge>;
  pageInfo: PageInfo;
  /** Findings of the kind asked for (all kinds when none). */
  totalCount: Scalars['Int']['output'];
};

export type AccessFindingCount = {
  __typename?: 'AccessFindingCount';
  count: Scalars['Int']['output'];
  kind: AccessFindingKind;
};

export type AccessFindingEdge = {
  __typename?: 'AccessFindingEdge';
  cursor: Scalars['String']['output'];
  node: AccessFinding;
};

/** What an access review looks for, most urgent first. */
export type AccessFindingKind =
  /** Consents in force name an agent that is suspended, decommissioned or expired, or whose ancestor is. */
  | 'CONSENT_TO_INACTIVE_AGENT'
  /** A client secret still valid is as old as the rotation age, or older. */
  | 'CREDENTIAL_PAST_ROTATION'
  /** Its expiry falls within the coming days asked for. */
  | 'EXPIRING_SOON'
  /** Data scopes granted (ceiling or consents) that the agent did not use in the window. */
  | 'OVER_PRIVILEGED'
  /** Not used for the whole window (never, or last used before it). */
  | 'UNUSED';

/** The register of every agent and what an access review finds in it, as of generatedAt. Covers up to 50000 agents (see complete). */
export type AccessReview = {
  __typename?: 'AccessReview';
  agentCount: Scalars['Int']['output'];
  /** False when the hub has more than 50000 agents: the oldest ones were reviewed. */
  complete: Scalars['Boolean']['output'];
  expiringWithinDays: Scalars['Int']['output'];
  /** The findings, most urgent kind first, then in registration order, a page at a time (first at most 100). */
  findings: AccessFindingConnection;
  generatedAt: Scalars['DateTime']['output'];
  /** Every agent, in registration order, a page at a time (first at most 100). */
  register: AccessReviewEntryConnection;
  rotationAgeDays: Scalars['Int']['output'];
  /** How many findings of each kind, most urgent first. */
  summary: Array<AccessFindingCount>;
  unusedForDays: Scalars['Int']['output'];
  /** Use is judged from here to generatedAt. */
  windowStart: Scalars['DateTime']['output'];
};


/** The register of every agent and what an access review finds in it, as of generatedAt. Covers up to 50000 agents (see complete). */
export type AccessReviewFindingsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
  kind?: InputMaybe<AccessFindingKind>;
};


/** The register of every agent and what an access review finds in it, as of generatedAt. Covers up to 50000 agents (see complete). */
export type AccessReviewRegisterArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
};

/** One agent of the register: owner, ceiling, status and expiry on `agent`; what it did and holds here. */
export type AccessReviewEntry = {
  __typename?: 'AccessReviewEntry';
  agent: Agent;
  /** Every scope the consents in force grant it. */
  consentScopes: Array<Scalars['String']['output']>;
  /** Whole days since credentialCreatedAt. */
  credentialAgeDays?: Maybe<Scalars['Int']['output']>;
  /** When its oldest client secret still valid was made. */
  credentialCreatedAt?: Maybe<Scalars['DateTime']['output']>;
  /** Profile fields it read in the window, itself or in an acting chain, and as a client the audience member fields it was shown or filtered on and the fields of the people it exported. */
  fieldsRead: Array<Scalars['String']['output']>;
  findings: Array<AccessFindingKind>;
  /** The later of its last authentication and its last audited read or change within the window. */
  lastActiveAt?: Maybe<Scalars['DateTime']['output']>;
  /** Consents in force naming the agent; list them with agent.consents(live: true). */
  liveConsentCount: Scalars['Int']['output'];
  /** Data scopes granted and not used in the window. */
  unusedScopes: Array<Scalars['String']['output']>;
  /** Data scopes granted and used in the window. */
  usedScopes: Array<Scalars['String']['output']>;
};

export type AccessReviewEntryConnection = {
  __typename?: 'AccessReviewEntryConnection';
  edges: Array<AccessReviewEntryEdge>;
  pageInfo: PageInfo;
  totalCount: Scalars['Int']['output'];
};

export type AccessReviewEntryEdge = {
  __typename?: 'AccessReviewEntryEdge';
  cursor: Scalars['String']['output'];
  node: AccessReviewEntry;
};

export type Address = {
  __typename?: 'Address';
  city: Scalars['String']['output'];
  /** ISO 3166-1 alpha-2. */
  country: Scalars['String']['output'];
  line1: Scalars['String']['output'];
  line2?: Maybe<Scalars['String']['output']>;
  /** Null where the country has none. */
  postalCode?: Maybe<Scalars['String']['output']>;
  region?: Maybe<Scalars['String']['output']>;
};

export type AddressInput = {
  city: Scalars['String']['input'];
  country: Scalars['String']['input'];
  line1: Scalars['String']['input'];
  line2?: InputMaybe<Scalars['String']['input']>;
  /** Left out, null or empty where the country has none (Hong Kong, the United Arab Emirates, Qatar...). */
  postalCode?: InputMaybe<Scalars['String']['input']>;
  region?: InputMaybe<Scalars['String']['input']>;
};

/** A non-human identity (an AI agent, a service, a bot) with its own OAuth client id and secret. */
export type Agent = {
  __typename?: 'Agent';
  /** The ceiling of every token the agent can ever get. */
  allowedScopes: Array<Scalars['String']['output']>;
  /** The consents naming the agent, newest first (first at most 100): every one for agents:admin; for the user who owns the agent, those they gave it themself, since other people’s consents are theirs alone. */
  consents?: Maybe<AgentConsentConnection>;
  createdAt: Scalars['DateTime']['output'];
  description?: Maybe<Scalars['String']['output']>;
  expiresAt?: Maybe<Scalars['DateTime']['output']>;
  /** Also its OAuth client_id. */
  id: Scalars['ID']['output'];
  kind: AgentKind;
  /** When it last authenticated, to the minute. */
  lastUsedAt?: Maybe<Scalars['DateTime']['output']>;
  name: Scalars['String']['output'];
  /** The user who connected the agent; null for an agent the operators own. For agents:admin and that user only. */
  owner?: Maybe<User>;
  ownerKind: AgentOwnerKind;
  /** The agent this one is a sub-agent of; its ceiling lies within the parent’s. */
  parent?: Maybe<Agent>;
  status: AgentStatus;
};


/** A non-human identity (an AI agent, a service, a bot) with its own OAuth client id and secret. */
export type AgentConsentsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
  live?: InputMaybe<Scalars['Boolean']['input']>;
};

export type AgentConnection = {
  __typename?: 'AgentConnection';
  edges: Array<AgentEdge>;
  pageInfo: PageInfo;
};

export type AgentConsentConnection = {
  __typename?: 'AgentConsentConnection';
  edges: Array<AgentConsentEdge>;
  pageInfo: PageInfo;
};

export type AgentConsentEdge = {
  __typename?: 'AgentConsentEdge';
  cursor: Scalars['String']['output'];
  node: Consent;
};

/** An agent with a new secret. The secret is shown here once and stored only as a hash. */
export type AgentCredentials = {
  __typename?: 'AgentCredentials';
  agent: Agent;
  clientId: Scalars['String']['output'];
  /** Use it with client_secret_basic or client_secret_post at /oauth/token. */
  clientSecret: Scalars['String']['output'];
};

export type AgentEdge = {
  __typename?: 'AgentEdge';
  cursor: Scalars['String']['output'];
  node: Agent;
};

export type AgentFilter = {
  kind?: InputMaybe<AgentKind>;
  ownerUserId?: InputMaybe<Scalars['ID']['input']>;
  parentAgentId?: InputMaybe<Scalars['ID']['input']>;
  status?: InputMaybe<AgentStatus>;
};

export type AgentKind =
  | 'AI_AGENT'
  | 'BOT'
  | 'SERVICE';

export type AgentOwnerKind =
  | 'OPERATOR'
  | 'USER';

/** EXPIRED: past its expiresAt, whatever else it is, unless decommissioned. */
export type AgentStatus =
  | 'ACTIVE'
  | 'DECOMMISSIONED'
  | 'EXPIRED'
  | 'SUSPENDED';

/** An agent’s request that its user approve one payment action; once approved, the action can be done once, before expiresAt. Its payment fields (authorizationDetails, amount, currency, creditorName, description, paymentMethodId, card) are the user’s payment data: each needs what User.paymentMethods needs, and is null with FORBIDDEN otherwise. */
export type Approval = {
  __typename?: 'Approval';
  action: ApprovalAction;
  /** The agent that asked. */
  agent?: Maybe<Agent>;
  /** For PAY: a decimal string with the currency’s minor-unit digits. */
  amount?: Maybe<Scalars['String']['output']>;
  /** What is approved, as one RFC 9396 authorization_details entry (payment_initiation, or the hub’s payment_method). */
  authorizationDetails?: Maybe<Scalars['JSONObject']['output']>;
  /** For ADD_ and CHANGE_PAYMENT_METHOD: the card. */
  card?: Maybe<MaskedCard>;
  createdAt: Scalars['DateTime']['output'];
  /** For PAY: who is paid. */
  creditorName?: Maybe<Scalars['String']['output']>;
  /** For PAY: ISO 4217. */
  currency?: Maybe<Scalars['String']['output']>;
  decidedAt?: Maybe<Scalars['DateTime']['output']>;
  /** For PAY: the reference shown with the payment. */
  description?: Maybe<Scalars['String']['output']>;
  expiresAt: Scalars['DateTime']['output'];
  id: Scalars['ID']['output'];
  /** For CHANGE_PAYMENT_METHOD: the method changed. */
  paymentMethodId?: Maybe<Scalars['ID']['output']>;
  /** EXPIRED once past expiresAt unanswered or unused. */
  status: ApprovalStatus;
  usedAt?: Maybe<Scalars['DateTime']['output']>;
  user?: Maybe<User>;
};

/** A payment action an agent needs its user’s approval for. */
export type ApprovalAction =
  | 'ADD_PAYMENT_METHOD'
  | 'CHANGE_PAYMENT_METHOD'
  | 'PAY';

export type ApprovalStatus =
  | 'APPROVED'
  | 'DENIED'
  | 'EXPIRED'
  | 'PENDING'
  | 'USED';

export type AudienceConnection = {
  __typename?: 'AudienceConnection';
  edges: Array<AudienceEdge>;
  pageInfo: PageInfo;
  /** How many members the audience has now; counted only when asked for. */
  totalCount: Scalars['Int']['output'];
};

export type AudienceEdge = {
  __typename?: 'AudienceEdge';
  cursor: Scalars['String']['output'];
  node: AudienceMember;
};

/** Every field optional; a list matches any of its values; all fields together. A field selects on a member field, and is refused (FORBIDDEN, PURPOSE_NOT_COVERED or MISSING_SCOPE) unless the purpose and the caller’s scopes both cover that field. */
export type AudienceFilter = {
  /** At most this age, in whole years on today’s date in UTC, the bound included (born on February 29: a year older on March 1 in other years). Selects on User.birthdate (category identity). */
  ageMax?: InputMaybe<Scalars['Int']['input']>;
  /** At least this age, in whole years on today’s date in UTC, the bound included (born on February 29: a year older on March 1 in other years). Selects on User.birthdate (category identity). */
  ageMin?: InputMaybe<Scalars['Int']['input']>;
  /** email, sms, push, post. Selects on User.preferences (category preferences). */
  channelsAny?: InputMaybe<Array<Scalars['String']['input']>>;
  /** ISO 3166-1 alpha-2. Selects on User.country (category profile). */
  countries?: InputMaybe<Array<Scalars['String']['input']>>;
  /** Compared as the profile stores them: trimmed and lowercased. Selects on User.preferences (category preferences). */
  interestsAny?: InputMaybe<Array<Scalars['String']['input']>>;
  /** Last order placed at or after this instant. Selects on User.orders (category orders). */
  lastOrderAfter?: InputMaybe<Scalars['DateTime']['input']>;
  /** Last order placed before this instant, not at it. Selects on User.orders (category orders). */
  lastOrderBefore?: InputMaybe<Scalars['DateTime']['input']>;
  /** BCP 47, compared in canonical form (sv-se selects sv-SE). Selects on User.locale (category profile). */
  locales?: InputMaybe<Array<Scalars['String']['input']>>;
  /** bronze, silver, gold, platinum. Selects on User.loyalty (category loyalty). */
  loyaltyTiers?: InputMaybe<Array<Scalars['String']['input']>>;
  /** Selects on User.loyalty (category loyalty). */
  minLoyaltyPoints?: InputMaybe<Scalars['Int']['input']>;
  /** Selects on User.orders (category orders). */
  orders?: InputMaybe<AudienceOrderFilter>;
  /** Signed up at or after this instant. Selects on User.createdAt (category profile). */
  signedUpAfter?: InputMaybe<Scalars['DateTime']['input']>;
  /** Signed up before this instant, not at it. Selects on User.createdAt (category profile). */
  signedUpBefore?: InputMaybe<Scalars['DateTime']['input']>;
};

/** A customer in an audience: only the fields the audience’s purpose and the caller’s scopes both cover resolve. */
export type AudienceMember = {
  __typename?: 'AudienceMember';
  address?: Maybe<Address>;
  birthdate?: Maybe<Scalars['Date']['output']>;
  country?: Maybe<Scalars['String']['output']>;
  createdAt?: Maybe<Scalars['DateTime']['output']>;
  email?: Maybe<Scalars['String']['output']>;
  emailVerified?: Maybe<Scalars['Boolean']['output']>;
  familyName?: Maybe<Scalars['String']['output']>;
  givenName?: Maybe<Scalars['String']['output']>;
  /** The user id: the key of the audience’s order. */
  id: Scalars['ID']['output'];
  locale?: Maybe<Scalars['String']['output']>;
  loyalty?: Maybe<Loyalty>;
  phone?: Maybe<Scalars['String']['output']>;
  preferences?: Maybe<Preferences>;
};

/** Orders placed in [from, to) (the whole history when both are left out): at least minCount of them (1 when neither minimum is set), and at least minSpendMinor in all. */
export type AudienceOrderFilter = {
  from?: InputMaybe<Scalars['DateTime']['input']>;
  minCount?: InputMaybe<Scalars['Int']['input']>;
  /** Total spend in minor units of the customer’s currency, of the orders neither cancelled nor refunded (those count toward minCount as orders placed). */
  minSpendMinor?: InputMaybe<Scalars['SafeInt']['input']>;
  to?: InputMaybe<Scalars['DateTime']['input']>;
};

/** Who acted: a user, an agent acting for one (delegated), a client acting as itself, anonymous, or the hub (system). */
export type AuditActor = {
  __typename?: 'AuditActor';
  id?: Maybe<Scalars['String']['output']>;
  kind: Scalars['String']['output'];
};

/** One entry of the append-only, hash-chained audit trail. */
export type AuditEvent = {
  __typename?: 'AuditEvent';
  /** One of user.signed_up, user.signed_in, user.sign_in_failed, token.issued, token.exchanged, token.refused, token.refreshed, token.revoked, profile.read, profile.updated, consent.given, consent.withdrawn, agent.registered, agent.secret_rotated, agent.suspended, agent.reactivated, agent.decommissioned, agent.scopes_added, approval.requested, approval.answered, approval.used, payment.refused, purpose.defined, audience.queried, audience.exported, audience.deleted, data.exported, user.erased, key.rotated, access.reviewed, webhook.created, webhook.updated, webhook.disabled, webhook.deleted, webhook.secret_rotated, webhook.redelivered, user.password_changed, user.password_change_failed, user.suspended, user.reactivated, consent.expired. */
  action: Scalars['String']['output'];
  actor: AuditActor;
  /** The acting agents, nearest first. */
  actorChain: Array<Scalars['String']['output']>;
  clientId?: Maybe<Scalars['String']['output']>;
  consentId?: Maybe<Scalars['ID']['output']>;
  decision: Decision;
  fieldsDenied: Array<Scalars['String']['output']>;
  fieldsRead: Array<Scalars['String']['output']>;
  id: Scalars['ID']['output'];
  occurredAt: Scalars['DateTime']['output'];
  purpose?: Maybe<Scalars['String']['output']>;
  reason?: Maybe<Scalars['String']['output']>;
  requestId?: Maybe<Scalars['String']['output']>;
  subjectUserId?: Maybe<Scalars['ID']['output']>;
};

export type AuditEventConnection = {
  __typename?: 'AuditEventConnection';
  edges: Array<AuditEventEdge>;
  pageInfo: PageInfo;
};

export type AuditEventEdge = {
  __typename?: 'AuditEventEdge';
  cursor: Scalars['String']['output'];
  node: AuditEvent;
};

export type AuditFilter = {
  /** One of the actions AuditEvent.action lists. */
  action?: InputMaybe<Scalars['String']['input']>;
  /** Events where this agent acted, directly or anywhere in the chain. */
  agentId?: InputMaybe<Scalars['ID']['input']>;
  decision?: InputMaybe<Decision>;
  /** Inclusive. */
  from?: InputMaybe<Scalars['DateTime']['input']>;
  /** Exclusive; later than from. */
  to?: InputMaybe<Scalars['DateTime']['input']>;
  userId?: InputMaybe<Scalars['ID']['input']>;
};

/** A signed-in session: a short-lived access token and a refresh token that rotates on every use. */
export type AuthPayload = {
  __typename?: 'AuthPayload';
  /** RFC 9068 JWT; send as `Authorization: Bearer`. */
  accessToken: Scalars['String']['output'];
  /** Seconds until the access token expires. */
  expiresIn: Scalars['Int']['output'];
  /** Opaque; exchange at /oauth/token with grant_type=refresh_token and client_id=hub-frontend. */
  refreshToken: Scalars['String']['output'];
  user: User;
};

export type ChangePasswordInput = {
  currentPassword: Scalars['String']['input'];
  newPassword: Scalars['String']['input'];
};

export type ChangePaymentMethodInput = {
  /** The payment method to change. */
  id: Scalars['ID']['input'];
  /** The card it becomes. */
  paymentMethod: PaymentMethodInput;
};

/** An agent acting for the user under a consent in force; withdraw the consent to disconnect it. */
export type ConnectedAgent = {
  __typename?: 'ConnectedAgent';
  agent?: Maybe<Agent>;
  consent: Consent;
  expiresAt?: Maybe<Scalars['DateTime']['output']>;
  /** When the agent last obtained or used a token. */
  lastUsedAt?: Maybe<Scalars['DateTime']['output']>;
  /** The purpose in the version the consent was given under. */
  purpose: Purpose;
  /** What the agent may read. */
  scopes: Array<Scalars['String']['output']>;
  since: Scalars['DateTime']['output'];
};

/** A purpose-bound permission a user gave: to the company, or to one agent (delegation). */
export type Consent = {
  __typename?: 'Consent';
  /** The agent the consent delegates to; null for a consent to the company. */
  agent?: Maybe<Agent>;
  collectionMethod: Scalars['String']['output'];
  expiresAt?: Maybe<Scalars['DateTime']['output']>;
  givenAt: Scalars['DateTime']['output'];
  /** The ledger events, oldest first. */
  history: Array<ConsentEvent>;
  id: Scalars['ID']['output'];
  /** The version of the purpose the consent was given under. */
  policyVersion: Scalars['String']['output'];
  /** The purpose in the version the consent was given under. */
  purpose: Purpose;
  /** The consent receipt (Kantara CR v1.1 / ISO/IEC TS 27560 fields) as a compact JWS, typ consent-receipt+jwt, verifiable against /receipts/jwks.json (every key that ever signed). */
  receipt?: Maybe<Scalars['String']['output']>;
  scopes: Array<Scalars['String']['output']>;
  /** EXPIRED once past expiresAt. */
  status: ConsentStatus;
  user?: Maybe<User>;
  /** The signed receipt of the withdrawal, as on its `withdrawn` history event; null while the consent is not withdrawn, or for a withdrawal recorded unsigned. */
  withdrawalReceipt?: Maybe<Scalars['String']['output']>;
  withdrawnAt?: Maybe<Scalars['DateTime']['output']>;
};

/** One entry of a consent’s append-only history. */
export type ConsentEvent = {
  __typename?: 'ConsentEvent';
  actorId?: Maybe<Scalars['String']['output']>;
  actorKind: Scalars['String']['output'];
  /** given, withdrawn or expired. */
  kind: Scalars['String']['output'];
  occurredAt: Scalars['DateTime']['output'];
  reason?: Maybe<Scalars['String']['output']>;
  /** The signed receipt of this change, a compact JWS in the format of Consent.receipt: for `given` the consent’s own, for `withdrawn` the record as withdrawn (consentStatus withdrawn, withdrawnAt). Null for a withdrawal recorded unsigned. */
  receipt?: Maybe<Scalars['String']['output']>;
};

export type ConsentStatus =
  | 'ACTIVE'
  | 'EXPIRED'
  | 'WITHDRAWN';

export type CreateAudienceInput = {
  filter?: InputMaybe<AudienceFilter>;
  name: Scalars['String']['input'];
  purpose: Scalars['String']['input'];
};

export type CreateWebhookSubscriptionInput = {
  description?: InputMaybe<Scalars['String']['input']>;
  /** See webhookEventTypes. */
  eventTypes: Array<Scalars['String']['input']>;
  /** http(s); its host must resolve to public addresses unless HUB_WEBHOOK_ALLOWED_NETWORKS allows it. */
  url: Scalars['String']['input'];
};

export type Decision =
  | 'ALLOW'
  | 'DENY';

export type DefinePurposeInput = {
  /** Categories (`contact`) or single fields (`contact.email`). */
  dataCategories: Array<Scalars['String']['input']>;
  description: Scalars['String']['input'];
  /** Left out, that of the version before, or EU for a new purpose. */
  jurisdiction?: InputMaybe<Scalars['String']['input']>;
  key: Scalars['String']['input'];
  /** A BCP 47 tag; left out, that of the version before, or en for a new purpose. */
  language?: InputMaybe<Scalars['String']['input']>;
  lawfulBasis: LawfulBasis;
  /** The notice shown to people; its SHA-256 goes into every receipt. */
  noticeText: Scalars['String']['input'];
  noticeUrl: Scalars['String']['input'];
  title: Scalars['String']['input'];
};

/** What an erasure did. The user id stays as the pseudonym of the consent ledger and the audit trail. */
export type ErasureResult = {
  __typename?: 'ErasureResult';
  /** Agents the person owned, decommissioned: they act for nobody now. */
  agentsDecommissioned: Scalars['Int']['output'];
  /** The user had been erased before: every count is 0 but consentsWithdrawn, the consents still in force that this call withdrew. */
  alreadyErased: Scalars['Boolean']['output'];
  /** Approvals of payment actions deleted, whatever their state: none can be answered or used after. */
  approvalsDeleted: Scalars['Int']['output'];
  /** Audiences (one per purpose) the user was a member of and no longer is. */
  audienceMembershipsRemoved: Scalars['Int']['output'];
  /** Consents withdrawn, each as a ledger event; their receipts are kept. */
  consentsWithdrawn: Scalars['Int']['output'];
  /** When the person was erased; the first erasure’s time when alreadyErased. */
  erasedAt: Scalars['DateTime']['output'];
  paymentMethodsDeleted: Scalars['Int']['output'];
  /** Refresh tokens still usable that were revoked. Access tokens are not counted: every one of the user’s (their own and every agent’s) is refused from the next request on. */
  refreshTokensRevoked: Scalars['Int']['output'];
  userId: Scalars['ID']['output'];
};

export type GiveConsentInput = {
  /** The agent the consent delegates to; left out, the consent is to the company. */
  agentId?: InputMaybe<Scalars['ID']['input']>;
  /** How the consent was collected (a channel such as web_form, never who collected it: it is signed into the receipts and kept after an erasure); self_service when left out. */
  collectionMethod?: InputMaybe<Scalars['String']['input']>;
  expiresAt?: InputMaybe<Scalars['DateTime']['input']>;
  /** The version of the purpose whose notice the person was shown; refused when another is in force. Left out, the version in force. */
  policyVersion?: InputMaybe<Scalars['String']['input']>;
  /** The key of a purpose Query.purposes lists: support, personalization, email_marketing, loyalty_offers, checkout, or one an operator defined. */
  purpose: Scalars['String']['input'];
  /** Data scopes within the purpose and, for an agent, within its allowed scopes; required for an agent. */
  scopes?: InputMaybe<Array<Scalars['String']['input']>>;
};

export type LawfulBasis =
  | 'CONSENT'
  | 'CONTRACT'
  | 'LEGAL_OBLIGATION'
  | 'LEGITIMATE_INTEREST'
  | 'PUBLIC_TASK'
  | 'VITAL_INTEREST';

export type LineItem = {
  __typename?: 'LineItem';
  name: Scalars['String']['output'];
  quantity: Scalars['Int']['output'];
  sku: Scalars['String']['output'];
  /** Price of one unit in minor units of the order currency. */
  unitPriceMinor: Scalars['SafeInt']['output'];
};

export type Loyalty = {
  __typename?: 'Loyalty';
  points: Scalars['Int']['output'];
  tier?: Maybe<Scalars['String']['output']>;
};

/** A card as the hub keeps it: brand, last four digits and expiry, never the number. */
export type MaskedCard = {
  __typename?: 'MaskedCard';
  brand: Scalars['String']['output'];
  expMonth: Scalars['Int']['output'];
  expYear: Scalars['Int']['output'];
  last4: Scalars['String']['output'];
};

export type Mutation = {
  __typename?: 'Mutation';
  /** An agent adds a masked card to its user’s payment methods, with an approved ADD_PAYMENT_METHOD approval for exactly this card. */
  addPaymentMethod: PaymentMethod;
  /** The user approves a pending approval: the agent may then do exactly that action, once, before it expires. A step-up: only with a session signed in after the approval was requested, within the last 5 minutes, and never handed to an agent for a token exchange (UNAUTHENTICATED otherwise: sign in again). */
  approve: Approval;
  /** An agent obtains a payment token for the commerce API, with an approved PAY approval for exactly this amount, currency, creditor and reference. */
  authorizePayment: PaymentAuthorization;
  /** The signed-in user replaces their password, giving the current one (a wrong one is BAD_USER_INPUT, throttled as sign-ins are). Every session of theirs ends, with every token agents obtained from one; the answer is a new session. */
  changePassword: AuthPayload;
  /** An agent changes one of its user’s payment methods to a new masked card, with an approved CHANGE_PAYMENT_METHOD approval for exactly this method and card. */
  changePaymentMethod: PaymentMethod;
  /** Saves a selection under a name; audience:read. Export it with GET /audiences/{id}/export. */
  createAudience: SavedAudience;
  /** Subscribes a URL to event types; webhooks:admin. The signing secret is shown once. */
  createWebhookSubscription: WebhookSubscriptionSecret;
  /** Ends the agent for good: every consent naming it is withdrawn and every token it holds or acts in stops working. */
  decommissionAgent: Agent;
  /** Adds a purpose, or a new version of one when anything changed. consents:admin. */
  definePurpose: Purpose;
  /** Deletes an audience this client saved; resolves to its id. Members and their consents are untouched. audience:read. */
  deleteSavedAudience: Scalars['ID']['output'];
  /** Deletes a subscription with its pending deliveries and log; resolves to its id. */
  deleteWebhookSubscription: Scalars['ID']['output'];
  /** The user denies a pending approval; the same step-up as `approve`. */
  deny: Approval;
  /** Stops deliveries to a subscription: no new events reach it, pending ones wait. */
  disableWebhookSubscription: WebhookSubscription;
  /** Enables a subscription again; its pending deliveries go out. */
  enableWebhookSubscription: WebhookSubscription;
  /** Erases a person (GDPR Art. 17), for users:admin or the user themself, with a session that holds every scope a sign-in grants (FORBIDDEN/MISSING_SCOPE for a narrowed one) and a sign-in in the last 10 minutes (UNAUTHENTICATED otherwise: sign in again): in one transaction every consent is withdrawn, every token stops, the profile, payment methods and approvals of payment actions are removed and the user leaves every audience; the consent ledger and the audit trail stay under the user id alone. Erasing again changes nothing but withdrawing a consent still in force (alreadyErased). */
  eraseUser: ErasureResult;
  /** The signed-in user gives a consent; one given before for the same purpose and grantee is replaced. A consent to an agent delegates only scopes the token holds, and one to the company needs a token that reads every category of the purpose (FORBIDDEN/MISSING_SCOPE). A consent to an agent whose allowed scopes hold offline_access (its token exchange then answers a refresh token) needs a sign-in in the last 10 minutes (UNAUTHENTICATED otherwise: sign in again). */
  giveConsent: Consent;
  /** Lifts a suspension. Its owner needs a sign-in in the last 10 minutes for an agent whose allowed scopes hold offline_access, as for rotateAgentSecret (UNAUTHENTICATED otherwise: sign in again). */
  reactivateAgent: Agent;
  /** users:admin. Lifts a suspension: the tokens and sessions still valid work again. */
  reactivateUser: User;
  /** Sends a message to a subscription again now, in a new round of attempts. */
  redeliverWebhookMessage: WebhookDelivery;
  /** Registers an agent: for agents:admin, or a user for an agent they own, with a session that holds every scope a sign-in grants and a sign-in in the last 10 minutes (UNAUTHENTICATED otherwise: sign in again). The secret is shown once. */
  registerAgent: AgentCredentials;
  /** An agent acting for a user, with payment write scope under its consent, asks the user to approve one payment action. */
  requestApproval: Approval;
  /** A new secret. The one it replaces keeps working for gracePeriodSeconds (default 0, at most 30 days), then stops; an older one still in a grace period stops at once. Its owner needs a sign-in in the last 10 minutes, as for registerAgent (UNAUTHENTICATED otherwise: sign in again). */
  rotateAgentSecret: AgentCredentials;
  /** A new signing secret; the old one signs beside it for gracePeriodSeconds (default 86400, at most 7 days). */
  rotateWebhookSecret: WebhookSubscriptionSecret;
  signIn: AuthPayload;
  signUp: AuthPayload;
  /** Stops the agent until reactivated: its tokens are refused from the next request on. */
  suspendAgent: Agent;
  /** users:admin. Refuses the user’s own and their agents’ tokens on the next request, and sign-in, until reactivateUser; the user leaves every audience. Revokes nothing. Suspending a suspended user changes nothing. */
  suspendUser: User;
  /** Changes the caller's own profile; every field given is validated. */
  updateProfile: User;
  /** Changes a subscription; webhooks:admin. Pending deliveries of an event type it no longer takes end as FAILED. */
  updateWebhookSubscription: WebhookSubscription;
  /** Withdraws a consent at once: every token issued under it stops working on the next request. */
  withdrawConsent: Consent;
};


export type MutationAddPaymentMethodArgs = {
  input: PaymentMethodInput;
};


export type MutationApproveArgs = {
  id: Scalars['ID']['input'];
};


export type MutationAuthorizePaymentArgs = {
  input: PaymentInput;
};


export type MutationChangePasswordArgs = {
  input: ChangePasswordInput;
};


export type MutationChangePaymentMethodArgs = {
  input: ChangePaymentMethodInput;
};


export type MutationCreateAudienceArgs = {
  input: CreateAudienceInput;
};


export type MutationCreateWebhookSubscriptionArgs = {
  input: CreateWebhookSubscriptionInput;
};


export type MutationDecommissionAgentArgs = {
  id: Scalars['ID']['input'];
};


export type MutationDefinePurposeArgs = {
  input: DefinePurposeInput;
};


export type MutationDeleteSavedAudienceArgs = {
  id: Scalars['ID']['input'];
};


export type MutationDeleteWebhookSubscriptionArgs = {
  id: Scalars['ID']['input'];
};


export type MutationDenyArgs = {
  id: Scalars['ID']['input'];
};


export type MutationDisableWebhookSubscriptionArgs = {
  id: Scalars['ID']['input'];
};


export type MutationEnableWebhookSubscriptionArgs = {
  id: Scalars['ID']['input'];
};


export type MutationEraseUserArgs = {
  id: Scalars['ID']['input'];
};


export type MutationGiveConsentArgs = {
  input: GiveConsentInput;
};


export type MutationReactivateAgentArgs = {
  id: Scalars['ID']['input'];
};


export type MutationReactivateUserArgs = {
  id: Scalars['ID']['input'];
};


export type MutationRedeliverWebhookMessageArgs = {
  messageId: Scalars['ID']['input'];
  subscriptionId: Scalars['ID']['input'];
};


export type MutationRegisterAgentArgs = {
  input: RegisterAgentInput;
};


export type MutationRequestApprovalArgs = {
  input: RequestApprovalInput;
};


export type MutationRotateAgentSecretArgs = {
  gracePeriodSeconds?: InputMaybe<Scalars['Int']['input']>;
  id: Scalars['ID']['input'];
};


export type MutationRotateWebhookSecretArgs = {
  gracePeriodSeconds?: InputMaybe<Scalars['Int']['input']>;
  id: Scalars['ID']['input'];
};


export type MutationSignInArgs = {
  input: SignInInput;
};


export type MutationSignUpArgs = {
  input: SignUpInput;
};


export type MutationSuspendAgentArgs = {
  id: Scalars['ID']['input'];
};


export type MutationSuspendUserArgs = {
  id: Scalars['ID']['input'];
};


export type MutationUpdateProfileArgs = {
  input: UpdateProfileInput;
};


export type MutationUpdateWebhookSubscriptionArgs = {
  id: Scalars['ID']['input'];
  input: UpdateWebhookSubscriptionInput;
};


export type MutationWithdrawConsentArgs = {
  id: Scalars['ID']['input'];
};

/** A first-party order: what the customer bought from the company. */
export type Order = {
  __typename?: 'Order';
  /** ISO 4217 code. */
  currency: Scalars['String']['output'];
  id: Scalars['ID']['output'];
  lineItems: Array<LineItem>;
  placedAt: Scalars['DateTime']['output'];
  status: OrderStatus;
  /** Total in minor units of `currency` (cents for USD). */
  totalMinor: Scalars['SafeInt']['output'];
};

export type OrderConnection = {
  __typename?: 'OrderConnection';
  edges: Array<OrderEdge>;
  pageInfo: PageInfo;
  /** How many orders the user has in all; counted only when asked for. */
  totalCount: Scalars['Int']['output'];
};

export type OrderEdge = {
  __typename?: 'OrderEdge';
  cursor: Scalars['String']['output'];
  node: Order;
};

export type OrderStatus =
  | 'CANCELLED'
  | 'DELIVERED'
  | 'PAID'
  | 'PENDING'
  | 'REFUNDED'
  | 'SHIPPED';

/** Where a page starts and ends and whether another follows (Relay cursor connections). */
export type PageInfo = {
  __typename?: 'PageInfo';
  endCursor?: Maybe<Scalars['String']['output']>;
  hasNextPage: Scalars['Boolean']['output'];
  /** Always false: lists page forward only, with first and after. */
  hasPreviousPage: Scalars['Boolean']['output'];
  /** The cursor of the first edge; null when the page has none. */
  startCursor?: Maybe<Scalars['String']['output']>;
};

/** An approved payment: a short-lived token for the commerce API that takes it (RFC 9396 §9). */
export type PaymentAuthorization = {
  __typename?: 'PaymentAuthorization';
  /** A JWT (typ at+jwt) signed with the hub’s key, verifiable against /jwks.json, carrying `authorization_details`; its aud is the hub’s issuer followed by /payments. */
  accessToken: Scalars['String']['output'];
  /** The approval used, now USED. */
  approval: Approval;
  /** The RFC 9396 entries the token carries. */
  authorizationDetails: Array<Scalars['JSONObject']['output']>;
  /** Seconds the token lives. */
  expiresIn: Scalars['Int']['output'];
  tokenType: Scalars['String']['output'];
};

/** A payment: an RFC 9396 payment_initiation entry. */
export type PaymentInput = {
  /** A positive decimal such as "123.50", with at most the currency’s minor-unit digits. */
  amount: Scalars['String']['input'];
  /** Who is paid; at most 70 characters. */
  creditorName: Scalars['String']['input'];
  /** ISO 4217, such as EUR. */
  currency: Scalars['String']['input'];
  /** The reference shown with the payment; at most 140 characters. */
  description?: InputMaybe<Scalars['String']['input']>;
};

/** A stored payment method, masked: the hub never holds a full card number. */
export type PaymentMethod = {
  __typename?: 'PaymentMethod';
  brand: Scalars['String']['output'];
  expMonth: Scalars['Int']['output'];
  expYear: Scalars['Int']['output'];
  id: Scalars['ID']['output'];
  last4: Scalars['String']['output'];
};

/** A masked card: never the card number. */
export type PaymentMethodInput = {
  /** visa, mastercard, amex, discover, jcb, diners, unionpay, maestro, cartes_bancaires */
  brand: Scalars['String']['input'];
  expMonth: Scalars['Int']['input'];
  expYear: Scalars['Int']['input'];
  last4: Scalars['String']['input'];
};

/** Zero-party data: what the customer has told the company about themself. */
export type Preferences = {
  __typename?: 'Preferences';
  /** Channels the customer prefers: email, sms, push, post. */
  channels: Array<Scalars['String']['output']>;
  interests: Array<Scalars['String']['output']>;
  sizes: Array<Size>;
  tags: Array<Scalars['String']['output']>;
};

/** Each list given replaces the stored one; a list left out is kept. */
export type PreferencesInput = {
  /** Any of email, sms, push, post. */
  channels?: InputMaybe<Array<Scalars['String']['input']>>;
  interests?: InputMaybe<Array<Scalars['String']['input']>>;
  sizes?: InputMaybe<Array<SizeInput>>;
  tags?: InputMaybe<Array<Scalars['String']['input']>>;
};

/** Why data is used; a consent is given for one purpose. */
export type Purpose = {
  __typename?: 'Purpose';
  /** Data categories (`contact`) or single fields (`contact.email`) it covers. */
  dataCategories: Array<Scalars['String']['output']>;
  description: Scalars['String']['output'];
  jurisdiction: Scalars['String']['output'];
  key: Scalars['String']['output'];
  language: Scalars['String']['output'];
  lawfulBasis: LawfulBasis;
  /** SHA-256 of the notice text, hex. */
  noticeSha256: Scalars['String']['output'];
  /** The notice shown to people before they consent, as stored and hashed: what a receipt’s notice.sha256 proves was read. */
  noticeText: Scalars['String']['output'];
  noticeUrl: Scalars['String']['output'];
  title: Scalars['String']['output'];
  version: Scalars['String']['output'];
};

export type Query = {
  __typename?: 'Query';
  /** An access review of every agent: the register (owner, ceiling, status, last use, credential age, expiry, consents in force) and its findings. agents:admin. */
  accessReview: AccessReview;
  /** An agent by id: for agents:admin, or the user who owns it. */
  agent?: Maybe<Agent>;
  /** Agents, oldest first: every agent for agents:admin, a user’s own for that user. */
  agents: AgentConnection;
  /** An approval by id: for the user it asks, the agent that asked, or users:admin. */
  approval?: Maybe<Approval>;
  /** Customers with a consent to the company for this purpose in force now, in user-id order; audience:read. */
  audience: AudienceConnection;
  /** The audit trail, newest first: for audit:read. */
  auditEvents: AuditEventConnection;
  /** A consent by id: for the user who gave it, or consents:admin. */
  consent?: Maybe<Consent>;
  /** The user of a user or delegated token; null for any other caller. */
  me?: Maybe<User>;
  /** The purpose registry: the newest version of every purpose. Public. */
  purposes: Array<Purpose>;
  /** An audience this client saved; null for any other id. audience:read. */
  savedAudience?: Maybe<SavedAudience>;
  /** The audiences this client saved, oldest first; audience:read. */
  savedAudiences: SavedAudienceConnection;
  /** A user by id: for the user themself, an agent acting for them (a delegated token whose sub is theirs), or a client with users:admin; each field is then decided on its own. */
  user?: Maybe<User>;
  /** Every user: for users:admin, with the read scope of each field the filter selects on. Oldest first for a token that reads createdAt (profile read scope); in id order, which tells nothing of when anyone signed up, for any other. */
  users: UserConnection;
  /** Every event type a subscription can ask for; webhooks:admin. */
  webhookEventTypes: Array<Scalars['String']['output']>;
  /** A webhook subscription by id; webhooks:admin. */
  webhookSubscription?: Maybe<WebhookSubscription>;
  /** Webhook subscriptions, oldest first; webhooks:admin. */
  webhookSubscriptions: WebhookSubscriptionConnection;
};


export type QueryAccessReviewArgs = {
  expiringWithinDays?: InputMaybe<Scalars['Int']['input']>;
  rotationAgeDays?: InputMaybe<Scalars['Int']['input']>;
  unusedForDays?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryAgentArgs = {
  id: Scalars['ID']['input'];
};


export type QueryAgentsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<AgentFilter>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryApprovalArgs = {
  id: Scalars['ID']['input'];
};


export type QueryAudienceArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<AudienceFilter>;
  first?: InputMaybe<Scalars['Int']['input']>;
  purpose: Scalars['String']['input'];
};


export type QueryAuditEventsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<AuditFilter>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryConsentArgs = {
  id: Scalars['ID']['input'];
};


export type QuerySavedAudienceArgs = {
  id: Scalars['ID']['input'];
};


export type QuerySavedAudiencesArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryUserArgs = {
  id: Scalars['ID']['input'];
};


export type QueryUsersArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<UserFilter>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryWebhookSubscriptionArgs = {
  id: Scalars['ID']['input'];
};


export type QueryWebhookSubscriptionsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
};

export type RegisterAgentInput = {
  /** Data scopes, operator scopes (not for an agent a user owns) and offline_access. */
  allowedScopes: Array<Scalars['String']['input']>;
  description?: InputMaybe<Scalars['String']['input']>;
  expiresAt?: InputMaybe<Scalars['DateTime']['input']>;
  kind: AgentKind;
  name: Scalars['String']['input'];
  /** The user who owns it; a user registering an agent owns it. */
  ownerUserId?: InputMaybe<Scalars['ID']['input']>;
  /** Makes it a sub-agent; its allowedScopes must lie within the parent’s. */
  parentAgentId?: InputMaybe<Scalars['ID']['input']>;
};

export type RequestApprovalInput = {
  action: ApprovalAction;
  /** How long the approval waits for its answer and its use: 30 to 900; 300 when left out. */
  expiresInSeconds?: InputMaybe<Scalars['Int']['input']>;
  /** For PAY. */
  payment?: InputMaybe<PaymentInput>;
  /** For ADD_PAYMENT_METHOD and CHANGE_PAYMENT_METHOD: the card. */
  paymentMethod?: InputMaybe<PaymentMethodInput>;
  /** For CHANGE_PAYMENT_METHOD: the method to change. */
  paymentMethodId?: InputMaybe<Scalars['ID']['input']>;
};

/** A named selection (purpose and filter) whose members are read live on every query and export. */
export type SavedAudience = {
  __typename?: 'SavedAudience';
  createdAt: Scalars['DateTime']['output'];
  id: Scalars['ID']['output'];
  members: AudienceConnection;
  name: Scalars['String']['output'];
  purpose: Scalars['String']['output'];
};


/** A named selection (purpose and filter) whose members are read live on every query and export. */
export type SavedAudienceMembersArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
};

export type SavedAudienceConnection = {
  __typename?: 'SavedAudienceConnection';
  edges: Array<SavedAudienceEdge>;
  pageInfo: PageInfo;
};

export type SavedAudienceEdge = {
  __typename?: 'SavedAudienceEdge';
  cursor: Scalars['String']['output'];
  node: SavedAudience;
};

export type SignInInput = {
  email: Scalars['String']['input'];
  password: Scalars['String']['input'];
};

export type SignUpInput = {
  country?: InputMaybe<Scalars['String']['input']>;
  email: Scalars['String']['input'];
  familyName?: InputMaybe<Scalars['String']['input']>;
  givenName?: InputMaybe<Scalars['String']['input']>;
  locale?: InputMaybe<Scalars['String']['input']>;
  /** At least 15 characters; no other rule. */
  password: Scalars['String']['input'];
};

export type Size = {
  __typename?: 'Size';
  kind: Scalars['String']['output'];
  value: Scalars['String']['output'];
};

export type SizeInput = {
  kind: Scalars['String']['input'];
  value: Scalars['String']['input'];
};

/** Only the fields given change; null clears a field. */
export type UpdateProfileInput = {
  address?: InputMaybe<AddressInput>;
  birthdate?: InputMaybe<Scalars['Date']['input']>;
  /** ISO 3166-1 alpha-2. */
  country?: InputMaybe<Scalars['String']['input']>;
  familyName?: InputMaybe<Scalars['String']['input']>;
  givenName?: InputMaybe<Scalars['String']['input']>;
  /** BCP 47, such as en-GB. */
  locale?: InputMaybe<Scalars['String']['input']>;
  /** With + and the country code, in any spacing and punctuation (+44 7700 900123, +1 (415) 555-0100); stored in E.164, such as +447700900123. */
  phone?: InputMaybe<Scalars['String']['input']>;
  preferences?: InputMaybe<PreferencesInput>;
};

/** What is left out stays as it is; description null clears it. */
export type UpdateWebhookSubscriptionInput = {
  description?: InputMaybe<Scalars['String']['input']>;
  eventTypes?: InputMaybe<Array<Scalars['String']['input']>>;
  url?: InputMaybe<Scalars['String']['input']>;
};

/** A customer: one record per person, the single source of truth for their profile. */
export type User = {
  __typename?: 'User';
  /** Who read or changed this user’s data, when, acting for whom and for which purpose: newest first, for the user themself. */
  accessLog?: Maybe<AuditEventConnection>;
  address?: Maybe<Address>;
  /** The user’s approvals, newest first, all of them or those in `status` (PENDING for what waits for an answer): for the user themself, or users:admin. */
  approvals?: Maybe<Array<Approval>>;
  birthdate?: Maybe<Scalars['Date']['output']>;
  /** The agents with a consent in force, newest consent first: for the user themself, or consents:admin. */
  connectedAgents?: Maybe<Array<ConnectedAgent>>;
  /** The consents the user gave, newest first: for the user themself, or consents:admin. */
  consents?: Maybe<Array<Consent>>;
  /** ISO 3166-1 alpha-2. */
  country?: Maybe<Scalars['String']['output']>;
  createdAt?: Maybe<Scalars['DateTime']['output']>;
  email?: Maybe<Scalars['String']['output']>;
  emailVerified?: Maybe<Scalars['Boolean']['output']>;
  familyName?: Maybe<Scalars['String']['output']>;
  givenName?: Maybe<Scalars['String']['output']>;
  id: Scalars['ID']['output'];
  lastLoginAt?: Maybe<Scalars['DateTime']['output']>;
  /** BCP 47. */
  locale?: Maybe<Scalars['String']['output']>;
  loyalty?: Maybe<Loyalty>;
  /** Newest first. */
  orders?: Maybe<OrderConnection>;
  paymentMethods?: Maybe<Array<PaymentMethod>>;
  /** E.164. */
  phone?: Maybe<Scalars['String']['output']>;
  preferences?: Maybe<Preferences>;
  /** users:admin. */
  status?: Maybe<UserStatus>;
  updatedAt?: Maybe<Scalars['DateTime']['output']>;
};


/** A customer: one record per person, the single source of truth for their profile. */
export type UserAccessLogArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


/** A customer: one record per person, the single source of truth for their profile. */
export type UserApprovalsArgs = {
  first?: InputMaybe<Scalars['Int']['input']>;
  status?: InputMaybe<ApprovalStatus>;
};


/** A customer: one record per person, the single source of truth for their profile. */
export type UserConnectedAgentsArgs = {
  first?: InputMaybe<Scalars['Int']['input']>;
};


/** A customer: one record per person, the single source of truth for their profile. */
export type UserConsentsArgs = {
  first?: InputMaybe<Scalars['Int']['input']>;
};


/** A customer: one record per person, the single source of truth for their profile. */
export type UserOrdersArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
};

export type UserConnection = {
  __typename?: 'UserConnection';
  edges: Array<UserEdge>;
  pageInfo: PageInfo;
};

export type UserEdge = {
  __typename?: 'UserEdge';
  cursor: Scalars['String']['output'];
  node: User;
};

/** Each key set is a read of its field: country needs profile read scope, email contact read scope (FORBIDDEN/MISSING_SCOPE otherwise). */
export type UserFilter = {
  country?: InputMaybe<Scalars['String']['input']>;
  /** Exact, as sign-in looks it up: trimmed, in any case, a Unicode domain as its ASCII form. */
  email?: InputMaybe<Scalars['String']['input']>;
};

/** SUSPENDED by an operator: the user’s own and their agents’ tokens are refused until reactivated. */
export type UserStatus =
  | 'ACTIVE'
  | 'SUSPENDED';

/** One attempt to deliver a message. */
export type WebhookAttempt = {
  __typename?: 'WebhookAttempt';
  /** Its number in its round of attempts, from 1. */
  attempt: Scalars['Int']['output'];
  attemptedAt: Scalars['DateTime']['output'];
  durationMs: Scalars['Int']['output'];
  /** Why it failed when there was no answer (timeout, refused address, …). */
  error?: Maybe<Scalars['String']['output']>;
  /** The next attempt it scheduled; null when the delivery ended. */
  nextAttemptAt?: Maybe<Scalars['DateTime']['output']>;
  /** The receiver’s HTTP status; null when it did not answer. */
  statusCode?: Maybe<Scalars['Int']['output']>;
  trigger: WebhookDeliveryTrigger;
};

/** A message’s delivery to one subscription, with its attempts. */
export type WebhookDelivery = {
  __typename?: 'WebhookDelivery';
  /** Attempts in the current round. */
  attemptCount: Scalars['Int']['output'];
  /** Its attempts, oldest first (the newest 50). */
  attempts: Array<WebhookAttempt>;
  createdAt: Scalars['DateTime']['output'];
  deliveredAt?: Maybe<Scalars['DateTime']['output']>;
  eventType: Scalars['String']['output'];
  lastAttemptAt?: Maybe<Scalars['DateTime']['output']>;
  lastError?: Maybe<Scalars['String']['output']>;
  lastStatusCode?: Maybe<Scalars['Int']['output']>;
  /** The `webhook-id` header: the same on every attempt, for receivers to drop duplicates. */
  messageId: Scalars['ID']['output'];
  nextAttemptAt?: Maybe<Scalars['DateTime']['output']>;
  /** The JSON body sent, as sent. A read of the data of the person it is about, in their trail. */
  payload: Scalars['String']['output'];
  status: WebhookDeliveryStatus;
  trigger: WebhookDeliveryTrigger;
};

export type WebhookDeliveryConnection = {
  __typename?: 'WebhookDeliveryConnection';
  edges: Array<WebhookDeliveryEdge>;
  pageInfo: PageInfo;
};

export type WebhookDeliveryEdge = {
  __typename?: 'WebhookDeliveryEdge';
  cursor: Scalars['String']['output'];
  node: WebhookDelivery;
};

/** PENDING: an attempt is due or scheduled. SUCCEEDED: a 2xx came back. FAILED: every attempt failed, or 410 Gone. */
export type WebhookDeliveryStatus =
  | 'FAILED'
  | 'PENDING'
  | 'SUCCEEDED';

/** SCHEDULED: the event itself. MANUAL: an operator asked for a redelivery. */
export type WebhookDeliveryTrigger =
  | 'MANUAL'
  | 'SCHEDULED';

/** OPERATOR: disabled through the API. GONE: the receiver answered 410 Gone. FAILING: every attempt failed for 5 days. */
export type WebhookDisabledReason =
  | 'FAILING'
  | 'GONE'
  | 'OPERATOR';

/** A receiver of signed webhooks (Standard Webhooks) for some event types. */
export type WebhookSubscription = {
  __typename?: 'WebhookSubscription';
  createdAt: Scalars['DateTime']['output'];
  /** The delivery log, newest message first. */
  deliveries: WebhookDeliveryConnection;
  description?: Maybe<Scalars['String']['output']>;
  disabledReason?: Maybe<WebhookDisabledReason>;
  eventTypes: Array<Scalars['String']['output']>;
  id: Scalars['ID']['output'];
  /** Until when the secret before the last rotation signs too (a second signature); null when only one signs. */
  previousSecretExpiresAt?: Maybe<Scalars['DateTime']['output']>;
  status: WebhookSubscriptionStatus;
  updatedAt: Scalars['DateTime']['output'];
  url: Scalars['String']['output'];
};


/** A receiver of signed webhooks (Standard Webhooks) for some event types. */
export type WebhookSubscriptionDeliveriesArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
  status?: InputMaybe<WebhookDeliveryStatus>;
};

export type WebhookSubscriptionConnection = {
  __typename?: 'WebhookSubscriptionConnection';
  edges: Array<WebhookSubscriptionEdge>;
  pageInfo: PageInfo;
};

export type WebhookSubscriptionEdge = {
  __typename?: 'WebhookSubscriptionEdge';
  cursor: Scalars['String']['output'];
  node: WebhookSubscription;
};

/** A subscription with a new signing secret. The secret is shown here once. */
export type WebhookSubscriptionSecret = {
  __typename?: 'WebhookSubscriptionSecret';
  /** The `whsec_` secret receivers verify `webhook-signature` with (Standard Webhooks). */
  secret: Scalars['String']['output'];
  subscription: WebhookSubscription;
};

export type WebhookSubscriptionStatus =
  | 'DISABLED'
  | 'ENABLED';
