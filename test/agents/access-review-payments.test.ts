import { beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../helpers/hub.js';
import { registerAgent, type RegisteredAgent } from '../helpers/oauth.js';
import { approvalWorld } from '../approvals/approval-fixtures.js';

// An agent whose only writes are payment actions, each done with an approval: its payment write
// scope is in use, and a review that reads only `profile.updated` would tell the operator to take
// away the one scope its work needs.

const world = await approvalWorld();
const { hub, alice, agentToken, request, answerAfresh, pay } = world;
let payer: RegisteredAgent;
let idle: RegisteredAgent;

const REVIEW = `{ accessReview { register(first: 100) { edges { node { agent { id } usedScopes unusedScopes findings } } }
  findings(kind: OVER_PRIVILEGED, first: 100) { edges { node { agent { id } scopes } } } } }`;
const PAYMENT = { amount: '12.50', currency: 'EUR', creditorName: 'Corner Shop' };

beforeAll(async () => {
  payer = await registerAgent(hub, world.admin, { name: 'Payer', allowedScopes: ['payment:read', 'payment:write'] });
  idle = await registerAgent(hub, world.admin, { name: 'Idle payer', allowedScopes: ['payment:read', 'payment:write'] });
  const token = await agentToken(payer, alice);
  const asked = await request(token, { action: 'PAY', payment: PAYMENT });
  expect((await answerAfresh(alice, 'approve', asked.data.requestApproval.id)).data.approve.status).toBe('APPROVED');
  expect((await pay(token, PAYMENT)).errors).toBeUndefined();
  // The idle agent is consented to and authenticates, but never asks for or does a payment.
  await agentToken(idle, alice);
  await hub.services.audit.flush();
});

describe('an access review of an agent that pays with approvals', () => {
  it('counts the payment actions as use of its payment write scope, and only its own', async () => {
    const body = await graphql<any>(hub, REVIEW, { token: world.admin });
    expect(body.errors).toBeUndefined();
    const entry = (id: string) => body.data.accessReview.register.edges.map((e: any) => e.node).find((n: any) => n.agent.id === id);
    expect(entry(payer.id).usedScopes).toContain('payment:write');
    const overPrivileged = body.data.accessReview.findings.edges.map((e: any) => e.node);
    expect(overPrivileged.find((f: any) => f.agent.id === payer.id)?.scopes ?? []).not.toContain('payment:write');
    expect(entry(idle.id).usedScopes).not.toContain('payment:write');
    expect(overPrivileged.find((f: any) => f.agent.id === idle.id)?.scopes).toContain('payment:write');
  });
});
