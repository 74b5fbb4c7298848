/**
 * `npm run bench`: every benchmark on the bench database, one Markdown report. Name some to run
 * only those: `npm run bench -- profile audit`.
 */
import { markdownTable, type Row } from './lib/measure.js';
import { BENCH_DATABASE_URL, BENCH_SECONDS, machine } from './lib/setup.js';
import { benchAudience } from './audience.js';
import { benchAudit } from './audit.js';
import { benchAuthz } from './authz.js';
import { LOAD_SECONDS, benchLoad, loadReport } from './load.js';
import { benchProfile } from './profile.js';
import { benchTokens } from './tokens.js';

const table = (run: () => Promise<Row[]>) => async () => markdownTable(await run());

const BENCHES: Record<string, { title: string; run: () => Promise<string> }> = {
  profile: { title: 'Profile reads (floor: the same data in one round trip of raw SQL)', run: table(benchProfile) },
  tokens: { title: 'Token service (floor: bare jose signing, and select 1 for the state check)', run: table(benchTokens) },
  audience: { title: 'Audiences on a million customers (floor: the best raw SQL on the same data)', run: table(benchAudience) },
  authz: { title: 'The full per-field decision for a delegated agent (floor: the same read by the user themself)', run: table(benchAuthz) },
  audit: { title: 'Auditing every read (floor: the same hub with HUB_AUDIT_READS=false)', run: table(benchAudit) },
  load: { title: `Mixed load, every workload at once for ${LOAD_SECONDS} s`, run: async () => loadReport(await benchLoad()) },
};

const wanted = process.argv.slice(2).filter((name) => !name.startsWith('-'));
const unknown = wanted.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(', ')} (known: ${Object.keys(BENCHES).join(', ')})`);
  process.exit(2);
}

const sections: string[] = [];
for (const name of wanted.length > 0 ? wanted : Object.keys(BENCHES)) {
  const bench = BENCHES[name]!;
  console.error(`running ${name} ...`);
  sections.push(`## ${bench.title}\n\n${await bench.run()}`);
}
const redacted = BENCH_DATABASE_URL.replace(/:[^:@/]*@/, ':***@');
console.log(`# Benchmark report\n\n${machine()}; ${BENCH_SECONDS} s per workload; database ${redacted}\n\n${sections.join('\n\n')}`);
