import { describe, expect, it } from 'vitest';
import { runNode } from '../helpers/run-node.js';

/**
 * A writer on a database that answers nothing, as through an outage, in a process with the small
 * heap of a memory-limited deployment: profile reads go on being recorded until the writer keeps
 * no more. It must turn requests away, and stop keeping events, while the process still has room.
 */
const HOLD_UNTIL_FULL = `
import { AuditWriter } from './src/audit/audit.writer.ts';
import { fixedClock } from './src/shared/clock.ts';
import { readEvent } from './test/audit/audit-fixtures.ts';
const unreachable = () => { throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }); };
const db = new Proxy({}, { get: unreachable });
const logger = { info() {}, warn() {}, error() {} };
const writer = new AuditWriter(db, logger, fixedClock('2025-04-10T08:00:00.000Z'));
let turnedAway = 0;
for (let i = 0; ; i++) {
  const held = writer.pending;
  writer.record(readEvent({ subjectUserId: 'usr_' + (i % 1000), requestId: 'req-' + i }));
  if (writer.backlogged && turnedAway === 0) turnedAway = writer.pending;
  if (writer.pending === held) break;
}
console.log(JSON.stringify({ turnedAway, held: writer.pending }));
process.exit(0);
`;

describe('AuditWriter under a small heap', () => {
  it('turns requests away and stops keeping events before they fill a heap of 96 MiB', async () => {
    const run = await runNode({ PATH: process.env.PATH }, '--max-old-space-size=96', '--import', 'tsx', '--input-type=module', '-e', HOLD_UNTIL_FULL);
    expect(run.stderr).not.toMatch(/heap out of memory/);
    expect(run.status).toBe(0);
    const { turnedAway, held } = JSON.parse(run.stdout) as { turnedAway: number; held: number };
    // Still enough to ride out a spell of slow writes, and more kept for the requests admitted.
    expect(turnedAway).toBeGreaterThan(1_000);
    expect(held).toBeGreaterThan(1.5 * turnedAway);
  }, 60_000);
});
