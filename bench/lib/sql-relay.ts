/**
 * The least an HTTP service can add to a statement: a bare `node:http` server, in a process of
 * its own as the hub is, that runs the statement a POST names through a `pg` pool and answers its
 * rows as JSON. No authentication, no GraphQL, no audit: beside the raw-SQL floor, it shows what
 * one more process hop, and serializing the rows once more, cost on this machine, whatever the
 * service does besides. For benchmarks only: it runs whatever SQL it is sent, so it listens on
 * loopback, on a port of its own, for the length of one run.
 *
 * Started by `startSqlRelay` (bench/lib/setup.ts); run alone: `npx tsx bench/lib/sql-relay.ts`
 * with DATABASE_URL and PORT.
 */
import http from 'node:http';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });

const server = http.createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const { text, values } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text: string; values?: unknown[] };
    pool.query(text, values).then(
      (result) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(result.rows));
      },
      (error: Error) => {
        response.writeHead(500, { 'content-type': 'text/plain' });
        response.end(error.message);
      },
    );
  });
});

server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
process.on('SIGTERM', () => server.close(() => void pool.end()));
