import { afterAll } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase } from './database.js';

/** Environment every test hub starts from; tests override single variables. */
export const TEST_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  HUB_DATA_DIR: 'memory://',
  HUB_DEMO_DATA: 'false',
  HUB_KEY_ENCRYPTION_KEY: '0'.repeat(64),
};

/** A hub on a fresh database of its own, closed after the file's tests. Not listening: use `request`. */
export async function startTestHub(env: Record<string, string> = {}): Promise<Hub> {
  const database = await createTestDatabase();
  const hub = await createHub(loadConfig({ ...TEST_ENV, ...env }), database);
  afterAll(() => hub.close());
  return hub;
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
