import { Command } from 'commander';
import { verifyAuditChains, type AuditVerification } from '../audit/audit.verify.js';
import { waitForDatabase } from '../db/availability.js';
import { openConfiguredDatabase } from '../db/connect.js';
import { requireMigrated } from '../db/migrator.js';
import { loadConfigOrExit } from './config.js';

/**
 * `hub audit`: checks on the audit trail. `verify` exits 0 when every chain holds, 1 when one does
 * not, and 2 when it could not tell (a database it cannot reach or not migrated), as `diff` and
 * `cmp` do: a monitor alerts on tampering, and retries or pages someone else on trouble.
 */
export function auditCommand(): Command {
  const audit = new Command('audit').description('inspect the audit trail');
  audit
    .command('verify')
    .description('recompute every audit hash chain; exit 1 and name the first broken link if one does not hold, 2 if the check could not run')
    .action(async () => {
      let verification: AuditVerification;
      try {
        verification = await verify();
      } catch (error) {
        console.error(`hub: audit not verified: ${error instanceof Error ? error.message : String(error)}`);
        process.exitCode = 2;
        return;
      }
      const { chains, events, broken } = verification;
      if (broken) {
        console.log(`broken: chain ${broken.chainKey} at seq ${broken.seq} (event ${broken.eventId ?? 'none'}): ${broken.problem}`);
        process.exitCode = 1;
      } else {
        console.log(`ok: ${chains} chains, ${events} events`);
      }
    });
  return audit;
}

async function verify(): Promise<AuditVerification> {
  const config = loadConfigOrExit();
  const database = openConfiguredDatabase(config, { existing: true });
  const onProgress = process.stderr.isTTY
    ? ({ chains, events }: { chains: number; events: number }) => process.stderr.write(`\rchecked ${events} events in ${chains} chains`)
    : undefined;
  try {
    // It only reads: a read-only standby serves it as well as the primary.
    await waitForDatabase(database, config.dbConnectTimeout, undefined, { writable: false });
    await requireMigrated(database.db);
    return await verifyAuditChains(database.db, { onProgress });
  } finally {
    if (onProgress) process.stderr.write('\n');
    await database.close();
  }
}
