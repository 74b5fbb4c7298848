/**
 * `npm run bench`: every benchmark script in bench/ on the bench database, one Markdown report
 * with the machine it ran on. Name some to run only those: `npm run bench -- profile audit`.
 *
 * A script joins the report by being a `bench/<name>.ts` that exports `bench<Name>()`
 * (`access-review.ts` → `benchAccessReview`), resolving to its rows, or to `{ rows, notes }`.
 * Its section is titled from TITLES, or else from the first line of the script's header comment.
 * A script that fails is reported as not run, the others still run, and the exit code is 1.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { LOAD_SECONDS } from './load.js';
import { markdownTable, type Row } from './lib/measure.js';
import { BENCH_DATABASE_URL, BENCH_SECONDS, loadAverage } from './lib/setup.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

/** Section titles, in report order; scripts not named here come after these and before `load`. */
const TITLES: Record<string, string> = {
  profile: 'Profile reads (floor: the same data in one round trip of raw SQL)',
  tokens: 'Token service (floor: bare jose signing, and select 1 for the state check)',
  audience: 'Audiences on a million customers (floor: the best raw SQL on the same data)',
  authz: 'The full per-field decision for a delegated agent (floor: the same read by the user themself)',
  audit: 'Auditing every read (floor: the same hub with HUB_AUDIT_READS=false)',
  load: `Mixed load, every workload at once for ${LOAD_SECONDS} s`,
};

type BenchResult = Row[] | { rows: Row[]; notes?: readonly string[] };

/** Every `bench/*.ts` but this one, known ones first in TITLES order, `load` last. */
function discoverBenches(): string[] {
  const known = Object.keys(TITLES);
  const rank = (name: string) => (name === 'load' ? known.length + 1 : known.includes(name) ? known.indexOf(name) : known.length);
  return readdirSync(BENCH_DIR)
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts') && file !== 'run.ts')
    .map((file) => file.slice(0, -'.ts'.length))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

const entryName = (name: string) => `bench${name.split(/[-_.]/).map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('')}`;

/** The first sentence (up to a colon or a full stop) of the script's header comment. */
function headerTitle(file: string): string | undefined {
  const comment = /^\/\*\*([\s\S]*?)\*\//.exec(readFileSync(file, 'utf8'))?.[1];
  const text = comment?.split('\n').map((line) => line.replace(/^\s*\*\s?/, '').trim()).join(' ').trim();
  return text ? /^(.+?)(?:[:.](?:\s|$)|$)/.exec(text)?.[1] : undefined;
}

async function runBench(name: string): Promise<{ title: string; body: string; ok: boolean }> {
  const file = path.join(BENCH_DIR, `${name}.ts`);
  const title = TITLES[name] ?? headerTitle(file) ?? name;
  try {
    const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    const run = module[entryName(name)];
    if (typeof run !== 'function') throw new Error(`bench/${name}.ts exports no ${entryName(name)}()`);
    const result = (await run()) as BenchResult;
    const { rows, notes = [] } = Array.isArray(result) ? { rows: result } : result;
    return { title, body: [markdownTable(rows), ...notes].join('\n\n'), ok: true };
  } catch (error) {
    console.error(error);
    return { title, body: `Not run: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, ok: false };
  }
}

/** The server's version, or why it could not be read. */
async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  try {
    await client.connect();
    return (await client.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;
  } catch (error) {
    return `unknown (${error instanceof Error ? error.message : String(error)})`;
  } finally {
    await client.end().catch(() => {});
  }
}

async function machineSection(): Promise<string> {
  const cpus = os.cpus();
  const redacted = BENCH_DATABASE_URL.replace(/:[^:@/]*@/, ':***@');
  return [
    '| machine | |',
    '|---|---|',
    `| CPU | ${cpus[0]?.model.trim() ?? 'unknown'} |`,
    `| cores | ${cpus.length} |`,
    `| memory | ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB |`,
    `| Node.js | ${process.version} |`,
    `| PostgreSQL | ${await postgresVersion()} (${redacted}) |`,
    `| OS | ${os.platform()} ${os.release()} |`,
    `| load average (1, 5, 15 min) at the end | ${loadAverage()} |`,
    `| duration | ${BENCH_SECONDS} s per workload (BENCH_SECONDS), ${LOAD_SECONDS} s for the mixed load (LOAD_SECONDS) |`,
  ].join('\n');
}

const available = discoverBenches();
const wanted = process.argv.slice(2).filter((name) => !name.startsWith('-'));
const unknown = wanted.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(', ')} (known: ${available.join(', ')})`);
  process.exit(2);
}

const sections: string[] = [];
let failed = 0;
for (const name of wanted.length > 0 ? available.filter((n) => wanted.includes(n)) : available) {
  console.error(`running ${name} ...`);
  const { title, body, ok } = await runBench(name);
  if (!ok) failed++;
  sections.push(`## ${title}\n\n${body}`);
}
console.log(`# Benchmark report\n\n${await machineSection()}\n\n${sections.join('\n\n')}`);
process.exitCode = failed > 0 ? 1 : 0;
