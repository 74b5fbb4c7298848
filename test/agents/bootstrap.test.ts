import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBootstrapClient } from '../../src/agents/agent-bootstrap.js';
import { insertAgent } from '../../src/agents/agent.queries.js';
import { createHub, type Hub } from '../../src/app.js';
import { OPERATOR_SCOPES } from '../../src/authz/principal.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase, describeEmbedded, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm } from '../helpers/hub.js';
import { freePort } from '../helpers/net.js';
import { basic, type ClientCredentials } from '../helpers/oauth.js';
import { hubArgs } from '../helpers/run-node.js';

const grant = (hub: Hub, client: ClientCredentials) => postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic(client));

describe('the operator client made on first start', () => {
  it('exists once per database, holds every operator scope, and is returned only by the start that made it', async () => {
    const database = await createTestDatabase();
    const first = await createHub(loadConfig(TEST_ENV), { database });
    const second = await createHub(loadConfig(TEST_ENV), { database });
    try {
      const credentials = first.bootstrapCredentials!;
      expect(credentials.clientId).toMatch(/^agt_[0-9A-Z]{26}$/);
      expect(second.bootstrapCredentials).toBeUndefined();
      const token = await grant(first, credentials);
      expect(token.body.scope.split(' ').sort()).toEqual([...OPERATOR_SCOPES].sort());
      const agents = await graphql<any>(second, '{ agents { edges { node { id name ownerKind } } } }', { token: token.body.access_token });
      expect(agents.data.agents.edges).toEqual([{ node: { id: credentials.clientId, name: 'Operator console', ownerKind: 'OPERATOR' } }]);
      const audited = await database.db.selectFrom('audit_events').select(['action', 'actor_kind', 'reason']).where('action', '=', 'agent.registered').execute();
      expect(audited).toEqual([{ action: 'agent.registered', actor_kind: 'system', reason: 'bootstrap operator client' }]);
      const concurrent = await Promise.all([1, 2, 3].map(() => ensureBootstrapClient(database.db, undefined, new Date())));
      expect(concurrent).toEqual([undefined, undefined, undefined]);
    } finally {
      await second.services.audit.close();
      await second.http.close();
      await first.close();
    }
  });

  it('is created once when instances start together on an empty database', async () => {
    const database = await createTestDatabase();
    try {
      const made = await Promise.all([1, 2, 3].map(() => ensureBootstrapClient(database.db, undefined, new Date())));
      expect(made.filter(Boolean)).toHaveLength(1);
      const rows = await database.db.selectFrom('agents').select('id').where('is_operator', '=', true).execute();
      expect(rows).toHaveLength(1);
    } finally {
      await database.close();
    }
  });
});

describe('HUB_BOOTSTRAP_CLIENT_ID and _SECRET', () => {
  const clientId = 'agt_console';
  const env = (secret: string) => loadConfig({ ...TEST_ENV, HUB_BOOTSTRAP_CLIENT_ID: clientId, HUB_BOOTSTRAP_CLIENT_SECRET: secret });
  const oldSecret = 'the-first-secret-of-the-operator-console';
  const newSecret = 'a-second-secret-after-the-operators-rotated-it';

  /** Runs `steps` with starts of the hub, each with a configured secret, on one fresh database; closes them all. */
  async function withStarts(steps: (start: (secret: string) => Promise<Hub>, database: TestDatabase) => Promise<void>): Promise<void> {
    const database = await createTestDatabase();
    const hubs: Hub[] = [];
    try {
      await steps(async (secret) => {
        const hub = await createHub(env(secret), { database });
        hubs.push(hub);
        return hub;
      }, database);
    } finally {
      for (const hub of hubs.slice(1)) {
        await hub.services.audit.close();
        await hub.http.close();
      }
      await hubs[0]?.close();
    }
  }

  it('make sure that client exists with that secret and every operator scope; a new secret replaces the old at once; a suspension stays', async () => {
    await withStarts(async (start, database) => {
      const first = await start(oldSecret);
      expect(first.bootstrapCredentials).toBeUndefined();
      const token = await grant(first, { clientId, clientSecret: oldSecret });
      expect(token.status).toBe(200);

      const second = await start(newSecret);
      expect((await grant(second, { clientId, clientSecret: oldSecret })).status).toBe(401);
      expect((await grant(second, { clientId, clientSecret: newSecret })).status).toBe(200);

      await database.db.updateTable('agents').set({ status: 'suspended', suspended_by: 'operator' }).where('id', '=', clientId).execute();
      const third = await start(newSecret);
      expect((await grant(third, { clientId, clientSecret: newSecret })).status).toBe(401);
      const rotations = await database.db.selectFrom('audit_events').select('reason').where('action', '=', 'agent.secret_rotated').execute();
      expect(rotations).toEqual([{ reason: 'HUB_BOOTSTRAP_CLIENT_SECRET changed' }]);

      // As a client made by a release with fewer operator scopes is found by a newer one.
      const older = OPERATOR_SCOPES.slice(1);
      await database.db.updateTable('agents').set({ allowed_scopes: older }).where('id', '=', clientId).execute();
      await start(newSecret);
      await start(newSecret);
      const row = await database.db.selectFrom('agents').select('allowed_scopes').where('id', '=', clientId).executeTakeFirstOrThrow();
      expect([...row.allowed_scopes].sort()).toEqual([...OPERATOR_SCOPES].sort());
      const added = await database.db.selectFrom('audit_events').select(['actor_kind', 'detail']).where('action', '=', 'agent.scopes_added').execute();
      expect(added).toEqual([{ actor_kind: 'system', detail: { agentId: clientId, scopes: [OPERATOR_SCOPES[0]] } }]);
    });
  });

  it('make a secret the client had before valid again: a configuration set back, or one unchanged after a rotation through the API', async () => {
    await withStarts(async (start, database) => {
      await start(oldSecret);
      await start(newSecret);
      const setBack = await start(oldSecret);
      expect((await grant(setBack, { clientId, clientSecret: oldSecret })).status).toBe(200);
      expect((await grant(setBack, { clientId, clientSecret: newSecret })).status).toBe(401);

      const token = (await grant(setBack, { clientId, clientSecret: oldSecret })).body.access_token as string;
      const rotated = await graphql<any>(setBack, 'mutation($id: ID!) { rotateAgentSecret(id: $id) { clientSecret } }', { token, variables: { id: clientId } });
      const apiSecret = rotated.data.rotateAgentSecret.clientSecret as string;
      const restarted = await start(oldSecret);
      expect((await grant(restarted, { clientId, clientSecret: oldSecret })).status).toBe(200);
      expect((await grant(restarted, { clientId, clientSecret: apiSecret })).status).toBe(401);
      const valid = await database.db.selectFrom('agent_secrets').select('secret_hash').where('agent_id', '=', clientId).where('expires_at', 'is', null).execute();
      expect(valid).toHaveLength(1);
    });
  });
});

describe('HUB_BOOTSTRAP_CLIENT_ID naming an agent that is not an operator client', () => {
  it.each([
    ['an agent customers consented to', 'agt_assistant'],
    ['a sub-agent', 'agt_child'],
  ])('fails the start when it names %s, and leaves the agent as it was', async (_what, id) => {
    const database = await createTestDatabase();
    try {
      const now = new Date();
      const agent = (id: string, parentAgentId: string | null) =>
        insertAgent(database.db, { id, name: id, kind: 'service', description: null, allowedScopes: ['profile:read'], ownerUserId: null, parentAgentId, ancestorIds: parentAgentId ? [parentAgentId] : [], expiresAt: null, now });
      await agent('agt_assistant', null);
      await agent('agt_child', 'agt_assistant');
      await expect(ensureBootstrapClient(database.db, { id, secret: 'a-secret-long-enough-for-the-console' }, now)).rejects.toThrow(
        `HUB_BOOTSTRAP_CLIENT_ID names ${id}, an agent that is not an operator client: choose an id no agent has`,
      );
      const row = await database.db.selectFrom('agents').select(['allowed_scopes', 'is_operator']).where('id', '=', id).executeTakeFirstOrThrow();
      expect(row).toEqual({ allowed_scopes: ['profile:read'], is_operator: false });
      expect(await database.db.selectFrom('agent_secrets').select('agent_id').where('agent_id', '=', id).execute()).toEqual([]);
    } finally {
      await database.close();
    }
  });
});

describeEmbedded('hub serve', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-bootstrap-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints a new operator client’s secret once, on the first start only, and never logs it', async () => {
    const first = await serveUntilListening(dir);
    const secret = /client_secret: ([\w-]{43})/.exec(first)?.[1];
    const id = /client_id: +(agt_\w{26})/.exec(first)?.[1];
    expect(secret).toBeDefined();
    expect(first).toContain(`created the operator client ${id}`);
    expect(first.split(secret!)).toHaveLength(3);
    const second = await serveUntilListening(dir);
    expect(second).not.toContain('client_secret');
  }, 120_000);
});

/** Runs `hub serve` on a PGlite data directory until it listens, then stops it; resolves to its stdout. */
async function serveUntilListening(dataDir: string): Promise<string> {
  const env = { PATH: process.env.PATH, HUB_DATA_DIR: dataDir, HUB_DEMO_DATA: 'false', LOG_LEVEL: 'info', PORT: String(await freePort()), HUB_KEY_ENCRYPTION_KEY: '4'.repeat(64) };
  const child = spawn(process.execPath, hubArgs('serve'), { env, timeout: 90_000 });
  let stdout = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('GraphQL at')) setTimeout(() => child.kill('SIGTERM'), 200);
    });
    child.on('error', reject).on('close', () => resolve());
  });
  return stdout;
}
