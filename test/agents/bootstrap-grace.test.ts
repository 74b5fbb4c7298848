import { describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm } from '../helpers/hub.js';
import { basic, type ClientCredentials } from '../helpers/oauth.js';

const grant = (hub: Hub, client: ClientCredentials) => postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic(client));

describe('HUB_BOOTSTRAP_CLIENT_SECRET after a rotation through the API with a grace period', () => {
  it('is made the console’s current secret again on restart, as it is after a rotation with none: it does not stop when the grace period ends', async () => {
    const clientId = 'agt_console_grace';
    const configured = 'the-configured-secret-of-the-operator-console';
    const env = loadConfig({ ...TEST_ENV, HUB_BOOTSTRAP_CLIENT_ID: clientId, HUB_BOOTSTRAP_CLIENT_SECRET: configured });
    const clock = fixedClock(new Date());
    const database = await createTestDatabase();
    const first = await createHub(env, { database, clock });
    let second: Hub | undefined;
    try {
      const token = (await grant(first, { clientId, clientSecret: configured })).body.access_token as string;
      const rotated = await graphql<any>(first, 'mutation($id: ID!) { rotateAgentSecret(id: $id, gracePeriodSeconds: 3600) { clientSecret } }', { token, variables: { id: clientId } });
      expect(rotated.data.rotateAgentSecret.clientSecret).toBeTypeOf('string');

      // The hub restarts within the grace period, its configuration unchanged.
      clock.advance(60);
      second = await createHub(env, { database, clock });
      expect((await grant(second, { clientId, clientSecret: configured })).status).toBe(200);

      // The grace period of the rotation ends: the configured secret must still open the console.
      clock.advance(3_600);
      expect((await grant(second, { clientId, clientSecret: configured })).status).toBe(200);
    } finally {
      if (second) {
        await second.services.audit.close();
        await second.http.close();
      }
      await first.close();
    }
  });
});
