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
};

export type Address = {
  __typename?: 'Address';
  city: Scalars['String']['output'];
  /** ISO 3166-1 alpha-2. */
  country: Scalars['String']['output'];
  line1: Scalars['String']['output'];
  line2?: Maybe<Scalars['String']['output']>;
  postalCode: Scalars['String']['output'];
  region?: Maybe<Scalars['String']['output']>;
};

export type AddressInput = {
  city: Scalars['String']['input'];
  country: Scalars['String']['input'];
  line1: Scalars['String']['input'];
  line2?: InputMaybe<Scalars['String']['input']>;
  postalCode: Scalars['String']['input'];
  region?: InputMaybe<Scalars['String']['input']>;
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
  /** One of user.signed_up, user.signed_in, user.sign_in_failed, token.issued, token.exchanged, token.refused, token.refreshed, token.revoked, profile.read, profile.updated, consent.given, consent.withdrawn, agent.registered, agent.secret_rotated, agent.suspended, agent.reactivated, agent.decommissioned, approval.requested, approval.answered, audience.queried, audience.exported, data.exported, user.erased, key.rotated. */
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
  action?: InputMaybe<Scalars['String']['input']>;
  /** Events where this agent acted, directly or anywhere in the chain. */
  agentId?: InputMaybe<Scalars['ID']['input']>;
  decision?: InputMaybe<Decision>;
  /** Inclusive. */
  from?: InputMaybe<Scalars['DateTime']['input']>;
  /** Exclusive. */
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

export type Decision =
  | 'ALLOW'
  | 'DENY';

export type LineItem = {
  __typename?: 'LineItem';
  name: Scalars['String']['output'];
  quantity: Scalars['Int']['output'];
  sku: Scalars['String']['output'];
  /** Price of one unit in minor units of the order currency. */
  unitPriceMinor: Scalars['Int']['output'];
};

export type Loyalty = {
  __typename?: 'Loyalty';
  points: Scalars['Int']['output'];
  tier?: Maybe<Scalars['String']['output']>;
};

export type Mutation = {
  __typename?: 'Mutation';
  signIn: AuthPayload;
  signUp: AuthPayload;
  /** Changes the caller's own profile; every field given is validated. */
  updateProfile: User;
};


export type MutationSignInArgs = {
  input: SignInInput;
};


export type MutationSignUpArgs = {
  input: SignUpInput;
};


export type MutationUpdateProfileArgs = {
  input: UpdateProfileInput;
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
  totalMinor: Scalars['Int']['output'];
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

/** Where a page ends and whether another follows (Relay cursor connections). */
export type PageInfo = {
  __typename?: 'PageInfo';
  endCursor?: Maybe<Scalars['String']['output']>;
  hasNextPage: Scalars['Boolean']['output'];
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

export type Query = {
  __typename?: 'Query';
  /** The audit trail, newest first: for audit:read. */
  auditEvents: AuditEventConnection;
  /** The user of a user or delegated token; null for any other caller. */
  me?: Maybe<User>;
  /** A user by id: for users:admin, or the user themself. */
  user?: Maybe<User>;
  /** Every user, oldest first: for users:admin. */
  users: UserConnection;
};


export type QueryAuditEventsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<AuditFilter>;
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
  /** E.164, such as +447700900123. */
  phone?: InputMaybe<Scalars['String']['input']>;
  preferences?: InputMaybe<PreferencesInput>;
};

/** A customer: one record per person, the single source of truth for their profile. */
export type User = {
  __typename?: 'User';
  /** Who read or changed this user’s data, when, acting for whom and for which purpose: newest first, for the user themself. */
  accessLog?: Maybe<AuditEventConnection>;
  address?: Maybe<Address>;
  birthdate?: Maybe<Scalars['Date']['output']>;
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
  updatedAt?: Maybe<Scalars['DateTime']['output']>;
};


/** A customer: one record per person, the single source of truth for their profile. */
export type UserAccessLogArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
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

export type UserFilter = {
  country?: InputMaybe<Scalars['String']['input']>;
  /** Exact, case-insensitive. */
  email?: InputMaybe<Scalars['String']['input']>;
};
