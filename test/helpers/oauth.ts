import type { Hub } from '../../src/app.js';
import { graphql, postForm } from './hub.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** RFC 6749 §2.3.1 Basic credentials: id and secret form-urlencoded, then base64. */
export function basic({ clientId, clientSecret }: ClientCredentials): Record<string, string> {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return { authorization: `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}` };
}

/** The operator client the hub created on its first start. */
export function operatorCredentials(hub: Pick<Hub, 'bootstrapCredentials'>): ClientCredentials {
  if (!hub.bootstrapCredentials) throw new Error('this hub created no operator client');
  return hub.bootstrapCredentials;
}

/** A client-credentials token (HTTP Basic); throws unless the hub issued one. */
export async function clientCredentialsToken(hub: Pick<Hub, 'http'>, client: ClientCredentials, scope?: string): Promise<string> {
  const response = await postForm(hub, '/oauth/token', { grant_type: 'client_credentials', ...(scope && { scope }) }, basic(client));
  if (response.status !== 200) throw new Error(`client_credentials failed: ${JSON.stringify(response.body)}`);
  return response.body.access_token;
}

/** An operator token with every operator scope, from the bootstrap client. */
export const operatorToken = (hub: Pick<Hub, 'http' | 'bootstrapCredentials'>) => clientCredentialsToken(hub, operatorCredentials(hub));

export interface RegisteredAgent extends ClientCredentials {
  readonly id: string;
}

/** Registers an agent through GraphQL with `token` (an operator's, or its owner's). */
export async function registerAgent(hub: Pick<Hub, 'http'>, token: string, input: Record<string, unknown>): Promise<RegisteredAgent> {
  const response = await graphql<{ registerAgent: { clientId: string; clientSecret: string } }>(
    hub,
    'mutation($input: RegisterAgentInput!) { registerAgent(input: $input) { clientId clientSecret } }',
    { token, variables: { input: { name: 'Agent', kind: 'AI_AGENT', ...input } } },
  );
  if (!response.data?.registerAgent) throw new Error(`registerAgent failed: ${JSON.stringify(response.errors)}`);
  const { clientId, clientSecret } = response.data.registerAgent;
  return { id: clientId, clientId, clientSecret };
}

/** The user (by their token) consents to the agent for `purpose` with `scopes`; resolves to the consent id. */
export async function giveConsent(hub: Pick<Hub, 'http'>, userToken: string, input: Record<string, unknown>): Promise<string> {
  const response = await graphql<{ giveConsent: { id: string } }>(hub, 'mutation($input: GiveConsentInput!) { giveConsent(input: $input) { id } }', {
    token: userToken,
    variables: { input: { purpose: 'support', ...input } },
  });
  if (!response.data?.giveConsent) throw new Error(`giveConsent failed: ${JSON.stringify(response.errors)}`);
  return response.data.giveConsent.id;
}

/** A new version of the purpose `key`, covering `dataCategories`, defined with `token` (consents:admin); resolves to its version. */
export async function definePurpose(hub: Pick<Hub, 'http'>, token: string, key: string, dataCategories: readonly string[]): Promise<string> {
  const response = await graphql<{ definePurpose: { version: string } }>(hub, 'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { version } }', {
    token,
    variables: { i: { key, title: key, description: `The ${key} purpose.`, lawfulBasis: 'CONSENT', dataCategories, noticeUrl: `https://hub.example/notices/${key}`, noticeText: `We use ${dataCategories.join(', ')}.` } },
  });
  if (!response.data?.definePurpose) throw new Error(`definePurpose failed: ${JSON.stringify(response.errors)}`);
  return response.data.definePurpose.version;
}

/** A token exchange by `agent` for `subjectToken`; resolves to the raw answer. */
export function exchange(hub: Pick<Hub, 'http'>, agent: ClientCredentials, subjectToken: string, extra: Record<string, string> = {}) {
  return postForm(
    hub,
    '/oauth/token',
    { grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, ...extra },
    basic(agent),
  );
}

/** The claims of a JWT, unverified: for asserting what the hub put in it. */
export function claimsOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
}
