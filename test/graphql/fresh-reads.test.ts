import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql } from '../helpers/hub.js';
import { operatorToken, registerAgent } from '../helpers/oauth.js';
import { StatementLog, startCountedHub } from '../helpers/statements.js';

// What a request caches (its DataLoaders, its per-request decisions) is dropped once each mutation
// field has run, and only then: the fields of a list keep sharing one loader, so their loads go
// out as one statement, while a mutation field never reads a row loaded before an earlier one
// changed it.

const log = new StatementLog();
let hub: Hub;
let operator: string;
beforeAll(async () => {
  hub = await startCountedHub(log);
  operator = await operatorToken(hub);
});
afterAll(() => hub.close());

describe('reads within one request', () => {
  it('load the parents of a listed page of agents in one statement', async () => {
    const parents: string[] = [];
    for (let i = 0; i < 3; i++) {
      const parent = await registerAgent(hub, operator, { name: `Parent ${i}`, kind: 'SERVICE', allowedScopes: ['orders:read'] });
      await registerAgent(hub, operator, { name: `Child ${i}`, kind: 'BOT', allowedScopes: ['orders:read'], parentAgentId: parent.id });
      parents.push(parent.id);
    }
    // Only the children are listed, so no parent comes with the list: each is loaded.
    const response = await log.during(() =>
      graphql<any>(hub, '{ agents(filter: { kind: BOT }) { edges { node { name parent { id name } } } } }', { token: operator }),
    );
    expect(response.errors).toBeUndefined();
    expect(response.data.agents.edges.map((e: any) => [e.node.name, e.node.parent.name])).toEqual([
      ['Child 0', 'Parent 0'],
      ['Child 1', 'Parent 1'],
      ['Child 2', 'Parent 2'],
    ]);
    const byId = log.matching('from "agents" where "id" in');
    expect(byId).toHaveLength(1);
    expect(byId[0]).toContain('in ($1, $2, $3)');
  });

  it('in a mutation see what the mutation fields before them changed, however little those answered', async () => {
    const top = await registerAgent(hub, operator, { name: 'Top', kind: 'SERVICE', allowedScopes: ['orders:read'] });
    const middle = await registerAgent(hub, operator, { name: 'Middle', kind: 'SERVICE', allowedScopes: ['orders:read'], parentAgentId: top.id });
    const bottom = await registerAgent(hub, operator, { name: 'Bottom', kind: 'BOT', allowedScopes: ['orders:read'], parentAgentId: middle.id });
    // The first field loads the middle agent (and leaves it suspended); the second decommissions it
    // with its ancestor, the middle agent's row not handed back; the third reads it as the bottom
    // agent's parent. The first two answers select no field, so nothing runs between the mutation
    // fields: only the drop after each of them keeps the third from the first's load.
    const response = await graphql<any>(
      hub,
      `mutation($top: ID!, $middle: ID!, $bottom: ID!) {
        suspended: suspendAgent(id: $middle) { __typename }
        decommissioned: decommissionAgent(id: $top) { __typename }
        again: decommissionAgent(id: $bottom) { parent { name status } }
      }`,
      { token: operator, variables: { top: top.id, middle: middle.id, bottom: bottom.id } },
    );
    expect(response.errors).toBeUndefined();
    expect(response.data.again).toEqual({ parent: { name: 'Middle', status: 'DECOMMISSIONED' } });
  });
});
