import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase } from './database.js';
import { freePort } from './net.js';

/** Environment every test hub starts from; tests override single variables. */
export const TEST_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  HUB_DATA_DIR: 'memory://',
  HUB_DEMO_DATA: 'false',
  HUB_KEY_ENCRYPTION_KEY: '6'.repeat(64),
  HUB_GRAPHQL_RATE_LIMIT: '100000',
  HUB_TOKEN_RATE_LIMIT: '100000',
};

/** The controller's details every consent receipt names, which production requires (Kantara CR v1.1). */
export const CONTROLLER_ENV: Record<string, string> = {
  HUB_CONTROLLER_NAME: 'Example Shop GmbH',
  HUB_CONTROLLER_CONTACT: 'Data Protection Officer',
  HUB_CONTROLLER_EMAIL: 'privacy@shop.example',
  HUB_CONTROLLER_PHONE: '+49 30 1234567',
  HUB_CONTROLLER_ADDRESS: '{"streetAddress": "Hauptstraße 1", "postalCode": "10115", "addressLocality": "Berlin", "addressCountry": "DE"}',
};

/** What production requires: a database that outlives the process, its key, an https issuer and the controller's details. */
export const PRODUCTION_ENV: Record<string, string> = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://hub@db.shop.example:5432/hub',
  HUB_KEY_ENCRYPTION_KEY: '5'.repeat(64),
  HUB_ISSUER: 'https://id.shop.example',
  ...CONTROLLER_ENV,
};

/** A hub on a fresh database of its own; the caller closes it. Not listening: use `request`. */
export async function startTestHub(env: Record<string, string> = {}): Promise<Hub> {
  const database = await createTestDatabase();
  return createHub(loadConfig({ ...TEST_ENV, ...env }), { database });
}

/** A hub as `startTestHub` makes one, listening on a free port of its own, for raw requests; the caller closes it. */
export async function startListeningHub(env: Record<string, string> = {}): Promise<{ hub: Hub; port: number }> {
  const port = await freePort();
  const hub = await startTestHub({ ...env, PORT: String(port) });
  await hub.listen();
  return { hub, port };
}

export interface GraphqlResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly data?: T | null;
  readonly errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
  readonly headers: Record<string, unknown>;
}

/** POSTs one GraphQL operation to the hub, as a client would. */
export async function graphql<T = Record<string, unknown>>(
  hub: Pick<Hub, 'http'>,
  query: string,
  options: { variables?: Record<string, unknown>; token?: string; headers?: Record<string, string> } = {},
): Promise<GraphqlResponse<T>> {
  const response = await hub.http.inject({
    method: 'POST',
    url: '/graphql',
    headers: {
      'content-type': 'application/json',
      ...(options.token && { authorization: `Bearer ${options.token}` }),
      ...options.headers,
    },
    payload: JSON.stringify({ query, variables: options.variables }),
  });
  const body = response.body ? JSON.parse(response.body) : {};
  return { status: response.statusCode, headers: response.headers, ...body };
}

let signUps = 0;

/** A new user signed up through the API; resolves to its id and session. */
/** The password `signUpUser` gives everyone. */
export const TEST_PASSWORD = 'correct horse battery staple 42';

export async function signUpUser(hub: Pick<Hub, 'http'>, input: Record<string, unknown> = {}) {
  const email = `user${++signUps}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const response = await graphql<{ signUp: { accessToken: string; refreshToken: string; user: { id: string } } }>(
    hub,
    'mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { id } } }',
    { variables: { input: { email, password: TEST_PASSWORD, ...input } } },
  );
  if (!response.data?.signUp) throw new Error(`sign-up failed: ${JSON.stringify(response.errors)}`);
  const { accessToken, refreshToken, user } = response.data.signUp;
  return { id: user.id, email: (input.email as string | undefined) ?? email, accessToken, refreshToken };
}

/**
 * A new session of a user `signUpUser` made, signed in with their password now: a token of their
 * own beside the one they signed up with, as when they sign in on a second device, or when the
 * frontend hands an agent a token for a token exchange and keeps its own.
 */
export async function signIn(hub: Pick<Hub, 'http'>, user: { email: string }): Promise<{ accessToken: string; refreshToken: string }> {
  const response = await graphql<any>(hub, 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken refreshToken } }', {
    variables: { input: { email: user.email, password: TEST_PASSWORD } },
  });
  if (!response.data?.signIn) throw new Error(`signIn failed: ${JSON.stringify(response.errors)}`);
  return response.data.signIn;
}

/**
 * An access token for a client acting as itself (`sub` an agent id), signed by the hub's key. The
 * client is registered (or made active again) first: the hub accepts a token only while its
 * client is a live agent.
 */
export async function clientToken(hub: Pick<Hub, 'services'>, scopes: readonly string[], clientId = 'agt_01J0000000000000000000TEST'): Promise<string> {
  await hub.services.db
    .insertInto('agents')
    .values({ id: clientId, name: 'Test client', kind: 'service', description: null, allowed_scopes: [...scopes], owner_kind: 'operator', owner_user_id: null, parent_agent_id: null })
    .onConflict((oc) => oc.column('id').doUpdateSet({ status: 'active', expires_at: null }))
    .execute();
  const issued = await hub.services.tokens.issueAccessToken({ sub: clientId, client_id: clientId, scope: scopes.join(' ') });
  return issued.accessToken;
}

/** POSTs a form to an OAuth endpoint; resolves to the status, headers and JSON body. */
export async function postForm(hub: Pick<Hub, 'http'>, url: string, form: Record<string, string | readonly string[]>, headers: Record<string, string> = {}) {
  // A list is sent as the parameter repeated, once per value.
  const pairs = Object.entries(form).flatMap(([key, value]): [string, string][] => (typeof value === 'string' ? [[key, value]] : value.map((one) => [key, one])));
  const response = await hub.http.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(pairs).toString(),
  });
  return { status: response.statusCode, headers: response.headers, body: response.body ? JSON.parse(response.body) : undefined };
}
