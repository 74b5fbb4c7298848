import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditEvents } from '../../src/audit/audit.append.js';
import { listAuditEvents } from '../../src/audit/audit.queries.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { readEvent } from './audit-fixtures.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
  await appendAuditEvents(database.db, [readEvent({ subjectUserId: 'usr_range' })], new Date('2025-03-01T10:00:00.000Z'));
});
afterAll(() => database.close());

describe('listAuditEvents time filters', () => {
  // The DateTime scalar reads year 0 ("0001-01-01T00:00:00+01:00") and offsets that carry 9999
  // into 10000, which one database or the other refuses or reads otherwise.
  it.each([
    ['from', new Date('+010000-01-01T00:00:00.000Z')],
    ['from', new Date('0000-12-31T23:00:00.000Z')],
    ['to', new Date('+010000-01-01T00:59:59.000Z')],
    ['to', new Date('0000-06-01T00:00:00.000Z')],
  ] as const)('refuses %s outside the years 1 to 9999 with BAD_USER_INPUT: %#', async (key, at) => {
    await expect(listAuditEvents(database.db, { filter: { userId: 'usr_range', [key]: at } })).rejects.toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: `filter.${key}` },
    });
  });

  it('takes the first and the last instant of those years', async () => {
    const page = await listAuditEvents(database.db, { filter: { userId: 'usr_range', from: new Date('0001-01-01T00:00:00.000Z'), to: new Date('9999-12-31T23:59:59.999Z') } });
    expect(page.edges).toHaveLength(1);
  });
});

describe('listAuditEvents filters that can match nothing', () => {
  it('refuses a to not later than from, naming to', async () => {
    for (const to of ['2025-02-01T00:00:00.000Z', '2025-03-01T10:00:00.000Z']) {
      await expect(listAuditEvents(database.db, { filter: { from: new Date('2025-03-01T10:00:00.000Z'), to: new Date(to) } })).rejects.toMatchObject({
        message: 'filter.to: must be later than from',
        extensions: { code: 'BAD_USER_INPUT', field: 'filter.to' },
      });
    }
    const page = await listAuditEvents(database.db, { filter: { userId: 'usr_range', from: new Date('2025-03-01T10:00:00.000Z'), to: new Date('2025-03-01T10:00:00.001Z') } });
    expect(page.edges).toHaveLength(1);
  });

  it('refuses an action that is none of the audit actions (a typo would hide every event), naming action', async () => {
    for (const action of ['profile.reads', 'user.signedup', 'PROFILE.READ', '']) {
      await expect(listAuditEvents(database.db, { filter: { action } })).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'filter.action' } });
    }
    expect((await listAuditEvents(database.db, { filter: { userId: 'usr_range', action: 'profile.read' } })).edges).toHaveLength(1);
  });
});
