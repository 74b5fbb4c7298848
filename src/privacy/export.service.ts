import pLimit from 'p-limit';
import type { Services } from '../app.js';
import { auditCaller, findAuditEvents } from '../audit/audit.service.js';
import { DATA_CATEGORIES } from '../authz/scopes.js';
import type { Consent } from '../consent/consent.service.js';
import type { Db } from '../db/connect.js';
import type { Caller } from '../identity/identity.service.js';
import { NotFoundError } from '../shared/errors.js';
import { isId } from '../shared/ids.js';
import { PAGE } from '../shared/pagination.js';
import { actionsOf, agentsOf, approvalsOf, consentsOf, findExportSubject, isExportSubject, ordersOf, paymentMethodsOf, sessionsOf } from './export.queries.js';
import { actionRecord, agentRecord, approvalRecord, consentRecord, orderRecord, paymentMethodRecord, sessionRecord } from './export.records.js';
import { jsonObjectChunks, keysetPages, pagesFrom, type StreamedList } from './json-stream.js';

/** Names the layout of the export document; a change of layout is a new version. */
export const EXPORT_FORMAT = 'hub-personal-data-export/2';

/** Runs the read of an export's page when its turn comes (`limitPageReads`). */
export type PageReads = <T>(read: () => Promise<T>) => Promise<T>;

/**
 * Pages all the personal-data exports of one instance read at once: each export holds no
 * connection between its pages, only while it reads one, so what bounds their load on the pool
 * is the number reading, not the number open (a reader that takes its document slowly holds its
 * export open for as long as it likes, and would otherwise hold a slot of everyone's).
 */
const MAX_PAGE_READS = 4;

/** The turns of `MAX_PAGE_READS` (or `max`) page reads at once. Make one per instance: the limit is its own. */
export function limitPageReads(max = MAX_PAGE_READS): PageReads {
  const limit = pLimit(max);
  return (read) => limit(read);
}

/** Rows per statement: memory holds one page of one list, whatever the person's history. */
const EXPORT_PAGE = 500;
/**
 * Consents per statement: each page also reads its consents' history. A consent is far larger than
 * a row of the other lists: its scopes, and the receipts of its giving and its withdrawal, each of
 * which signs the scopes and the purpose's notice URL, make some 22 KB of export at the most a
 * purpose and a consent may hold. Pages of 100 were 2.2 MB, and as many exports as an instance lets
 * run, none read, ended a hub given a heap of 128 MiB; pages of 5 keep a page's text, which an
 * export holds twice (read ahead, and being written), at about 110 KB.
 */
const CONSENT_PAGE = 5;

type Deps = Pick<Services, 'db' | 'clock' | 'audit' | 'consents'>;

/**
 * Everything the hub holds about one person (GDPR Art. 15 and 20), as one JSON document in
 * chunks: `format`, `exportedAt`, `subject`, `profile`, `paymentMethods` (masked), `orders`
 * (oldest first), `consents` (each with its receipt and history), `connectedAgents`,
 * `ownedAgents`, `approvals`, `sessions` (one per refresh-token family: sign-ins, and agents'
 * offline access), `accessLog` (the audit events about the person, newest first: which agent read
 * which fields, for which purpose) and `actions` (the events they acted in about someone else or
 * no one, newest first, one about another person without what is that person's: `actionRecord`).
 * Lists are read in keyset pages, each page as of its own statement, so the export runs in
 * constant memory and never holds a long transaction. Who may ask is decided by the caller in
 * src/authz (`decideDataSubjectRequest`).
 * An export outlives the request that began it, for as long as its reader reads: before each page
 * of a list, `recheckToken` checks the caller's token again (`FastifyRequest.recheckToken`), and a
 * token no longer standing (its session signed out, its user suspended) ends the export there,
 * cut short, as it ends every request of that token on every instance; so does the person's
 * erasure, whoever asked.
 * Audited as `data.exported` once the last chunk is out or the reader stops, with how many entries
 * of each list went out, and as `fieldsRead` every field of every data category and every other
 * list it holds: the person's accessLog shows what an export of them read, as it does for a query.
 * @throws NotFoundError for an id that names no user, or an erased one (before the first chunk).
 */
export async function exportUserData(
  deps: Deps,
  caller: Caller,
  userId: string,
  recheckToken: () => Promise<void> = async () => {},
  reads: PageReads = (read) => read(),
): Promise<AsyncGenerator<string>> {
  const { db } = deps;
  const user = isId('usr', userId) ? await findExportSubject(db, userId) : undefined;
  if (!user) throw new NotFoundError('User');
  const now = deps.clock.now();
  const counts = { paymentMethods: 0, orders: 0, consents: 0, connectedAgents: 0, ownedAgents: 0, approvals: 0, sessions: 0, accessLog: 0, actions: 0 };
  // Each list's pages, counted as they go out: a page's statements, and the checks after it, in
  // one turn of the instance's.
  const counting = (key: keyof typeof counts, list: StreamedList): StreamedList => {
    const pages = list[Symbol.asyncIterator]();
    return pagesFrom(
      () =>
        reads(async () => {
          const next = await pages.next();
          if (next.done) return undefined;
          await recheckToken();
          await assertStillExportable(db, user.id);
          counts[key] += next.value.length;
          return next.value;
        }),
      async () => pages.return?.(),
    );
  };

  const members: [string, unknown][] = [
    ['format', EXPORT_FORMAT],
    ['exportedAt', now],
    ['subject', user.id],
    ['profile', user],
    ['paymentMethods', counting('paymentMethods', keysetPages(paymentMethodsOf(db, user.id), EXPORT_PAGE, (rows) => rows.map(paymentMethodRecord)))],
    ['orders', counting('orders', keysetPages(ordersOf(db, user.id), EXPORT_PAGE, (rows) => rows.map(orderRecord)))],
    ['consents', counting('consents', keysetPages(consentsOf(db, user.id), CONSENT_PAGE, (consents) => withHistory(deps, consents, now)))],
    ['connectedAgents', counting('connectedAgents', keysetPages(agentsOf(db, user.id, 'connected', now), EXPORT_PAGE, (rows) => rows.map((agent) => agentRecord(agent, now))))],
    ['ownedAgents', counting('ownedAgents', keysetPages(agentsOf(db, user.id, 'owned', now), EXPORT_PAGE, (rows) => rows.map((agent) => agentRecord(agent, now))))],
    ['approvals', counting('approvals', keysetPages(approvalsOf(db, user.id), EXPORT_PAGE, (rows) => rows.map((row) => approvalRecord(row, now))))],
    ['sessions', counting('sessions', keysetPages(sessionsOf(db, user.id), EXPORT_PAGE, (rows) => rows.map(sessionRecord)))],
    ['accessLog', counting('accessLog', accessLogPages(db, user.id))],
    ['actions', counting('actions', keysetPages(actionsOf(db, user.id), EXPORT_PAGE, (events) => events.map((event) => actionRecord(event, user.id))))],
  ];

  const lists = members.map(([name]) => name).filter((name) => !['format', 'exportedAt', 'subject', 'profile'].includes(name));
  // The profile holds the account's status too, which no data category covers (`User.status`).
  const fieldsRead = [...new Set([...Object.values(DATA_CATEGORIES).flat(), 'status', ...lists])].sort();

  return (async function* chunks() {
    let complete = false;
    try {
      yield* jsonObjectChunks(members);
      complete = true;
    } finally {
      deps.audit.record({
        action: 'data.exported',
        ...auditCaller(caller.principal, caller.requestId),
        subjectUserId: user.id,
        decision: 'ALLOW',
        fieldsRead,
        detail: { format: EXPORT_FORMAT, complete, ...counts },
      });
    }
  })();
}

/**
 * Ends an export whose subject was erased since it began, as their own token's recheck ends theirs:
 * an operator's export would otherwise go on handing over the ledger and the trail of a person the
 * hub answers 404 for. @throws NotFoundError
 */
async function assertStillExportable(db: Db, userId: string): Promise<void> {
  if (!(await isExportSubject(db, userId))) throw new NotFoundError('User');
}

/** A page of consents as records, with the ledger history of each (one read per page). */
async function withHistory(deps: Deps, consents: readonly Consent[], now: Date) {
  const events = await deps.consents.findHistory(deps.db, consents.map((c) => c.id));
  return consents.map((consent) => consentRecord(consent, events.filter((event) => event.consentId === consent.id), now));
}

/** The audit events about the person, newest first, through the audit trail's own paging. */
function accessLogPages(db: Db, userId: string): StreamedList {
  let after: string | undefined;
  let done = false;
  return pagesFrom(async () => {
    if (done) return undefined;
    const page = await findAuditEvents(db, { filter: { userId }, first: PAGE.max, ...(after && { after }) });
    done = !page.pageInfo.hasNextPage || !page.pageInfo.endCursor;
    after = page.pageInfo.endCursor ?? undefined;
    return page.edges.map((edge) => edge.node);
  });
}
