/**
 * A bounded, loopback-only mixed load (bench/lib/load-mix.ts): profile reads, agent reads, token
 * exchanges, consent changes and audience pages at once for LOAD_SECONDS (default 60) against one
 * hub process, with the hub's peak resident memory. No floor: the workloads' own floors are in the
 * other benchmarks. Run: `npm run bench -- load` (BENCH_DATABASE_URL, LOAD_SECONDS).
 */
import { markdownTable } from './lib/measure.js';
import { LOAD_HUB_ENV, memoryLine, prepareLoadMix, runLoadMix } from './lib/load-mix.js';
import { machine, openBenchDatabase, startHubProcess } from './lib/setup.js';
import { ensureSeeded } from './profile.js';

export const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 60);

/** The mix on the bench database: its rows, with the hub's peak memory as a note. */
export async function benchLoad() {
  const database = await openBenchDatabase();
  await ensureSeeded(database.db);
  const hub = await startHubProcess(LOAD_HUB_ENV);
  try {
    const { rows, peakMb } = await runLoadMix(hub, await prepareLoadMix(database.db, hub, LOAD_SECONDS));
    return { rows, notes: [memoryLine(peakMb)] };
  } finally {
    await hub.stop();
    await database.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows, notes } = await benchLoad();
  console.log(`\nMixed load for ${LOAD_SECONDS} s on ${machine()}\n\n${markdownTable(rows)}\n\n${notes.join('\n')}`);
}
