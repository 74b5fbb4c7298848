import { SignJWT } from 'jose';
import type { AuditActor } from '../audit/audit.actions.js';
import type { Controller } from '../config.js';
import { SIGNING_ALG, type SigningKey } from '../oauth/key-store.js';
import type { Consent } from './consent.queries.js';
import type { Purpose } from './purposes.js';

/** The media type of a consent receipt JWS (`typ`), so it can never pass for an access token. */
const RECEIPT_TYP = 'consent-receipt+jwt';

/** Kantara Consent Receipt Specification v1.1 version string. */
const KANTARA_VERSION = 'KI-CR-v1.1.0';

/**
 * Kantara CR v1.1's `consentType` of every consent the hub records: only the person signed in
 * themself gives one, by a deliberate act (`giveConsent`), whatever channel `collectionMethod`
 * names. The specification knows EXPLICIT and IMPLICIT; a client's label must not change it.
 */
const CONSENT_TYPE = 'EXPLICIT';

/** Data categories that are special categories of personal data (GDPR Art. 9) or otherwise sensitive. */
const SENSITIVE_CATEGORIES = new Set(['payment', 'identity']);

/** How a consent was withdrawn: who withdrew it, as its ledger event names them, and why. */
export interface Withdrawal {
  readonly by: AuditActor;
  readonly reason: string;
}

/**
 * The receipt claims of a consent: the fields of a Kantara Consent Receipt v1.1, with the
 * ISO/IEC TS 27560 additions (grantee agent and its chain, lawful basis, notice hash, expiry,
 * state, and when, by whom and why it was withdrawn) under their own names. The record as it
 * stands when signed: once as given (`consentStatus` active, `withdrawnBy` null), once more as
 * withdrawn, each change its own receipt.
 */
export function receiptClaims(
  consent: Consent,
  purpose: Purpose,
  controller: ReceiptController,
  agent: { id: string; chain: readonly string[] } | null,
  withdrawal: Withdrawal | null = null,
) {
  const categories = consent.scopes.length > 0 ? coveredData(consent.scopes) : [...purpose.dataCategories];
  const sensitive = categories.some((c) => SENSITIVE_CATEGORIES.has(c.split('.')[0]!));
  return {
    version: KANTARA_VERSION,
    jurisdiction: purpose.jurisdiction,
    consentTimestamp: Math.floor(consent.givenAt.getTime() / 1_000),
    collectionMethod: consent.collectionMethod,
    consentReceiptID: consent.id,
    language: purpose.language,
    piiPrincipalId: consent.userId,
    piiControllers: [piiController(controller)],
    policyUrl: purpose.noticeUrl,
    services: [
      {
        service: agent ? agent.id : controller.name,
        purposes: [
          {
            purpose: purpose.key,
            purposeVersion: purpose.version,
            purposeTitle: purpose.title,
            purposeCategory: [purpose.title],
            consentType: CONSENT_TYPE,
            lawfulBasis: purpose.lawfulBasis,
            piiCategory: categories,
            scopes: consent.scopes,
            primaryPurpose: true,
            termination: consent.expiresAt ? consent.expiresAt.toISOString() : 'on withdrawal',
            thirdPartyDisclosure: agent !== null,
            ...(agent && { thirdPartyName: agent.id }),
          },
        ],
      },
    ],
    sensitive,
    spiCat: sensitive ? categories.filter((c) => SENSITIVE_CATEGORIES.has(c.split('.')[0]!)) : [],
    notice: { url: purpose.noticeUrl, sha256: purpose.noticeSha256 },
    grantee: agent ? { agentId: agent.id, actorChain: agent.chain } : null,
    expiresAt: consent.expiresAt ? Math.floor(consent.expiresAt.getTime() / 1_000) : null,
    consentStatus: consent.status,
    withdrawnAt: consent.withdrawnAt ? Math.floor(consent.withdrawnAt.getTime() / 1_000) : null,
    withdrawnBy: withdrawal ? { kind: withdrawal.by.kind, id: withdrawal.by.id } : null,
    withdrawalReason: withdrawal?.reason ?? null,
  };
}

/**
 * The data scopes cover, named as a purpose names its data categories: a category (`orders`), or
 * one field of it (`contact.email`) unless the whole category is covered too. A receipt claims no
 * more than the consent gives: `contact` for `contact.email:read` would cover the phone as well.
 */
function coveredData(scopes: readonly string[]): string[] {
  const named = new Set(scopes.map((scope) => scope.split(':')[0]!));
  return [...named].filter((data) => !(data.includes('.') && named.has(data.split('.')[0]!)));
}

/** The company running the hub (see `Controller`), and the issuer its receipts come from. */
export type ReceiptController = Controller & { readonly issuer: string };

/** Kantara CR v1.1's `piiControllers` entry: the name, how to reach them (what is configured), and the hub's URL. */
function piiController(controller: ReceiptController) {
  const { name, contact, email, phone, address, issuer } = controller;
  return {
    piiController: name,
    ...(contact && { contact }),
    ...(address && { address }),
    ...(email && { email }),
    ...(phone && { phone }),
    piiControllerUrl: issuer,
  };
}

/**
 * Signs the receipt claims as a compact JWS with the hub's signing key; verifiable against
 * /receipts/jwks.json, which keeps every key that signed. The receipt of a withdrawal names the same consent but has a `jti` of its own, as
 * a JWT id names one token: a consumer that keeps receipts by `jti` keeps both.
 */
export function signReceipt(key: SigningKey, claims: ReturnType<typeof receiptClaims>, issuer: string, now: Date): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: SIGNING_ALG, typ: RECEIPT_TYP, kid: key.kid })
    .setIssuer(issuer)
    .setSubject(claims.piiPrincipalId)
    .setJti(claims.withdrawnAt === null ? claims.consentReceiptID : `${claims.consentReceiptID}.withdrawn`)
    .setIssuedAt(Math.floor(now.getTime() / 1_000))
    .sign(key.privateKey);
}
