import { Command } from 'commander';
import { auditCommand } from './audit.js';
import { loadConfigOrExit } from './config.js';
import { keysCommand } from './keys.js';
import { migrateCommand } from './migrate.js';
import { seedCommand } from './seed.js';
import { serve } from './serve.js';

/** The `hub` command and its subcommands; each has `--help`. */
export function createProgram(): Command {
  const program = new Command('hub')
    .description('Identity and consent hub: customers, their agents and consents, behind one GraphQL API')
    .showHelpAfterError();
  program
    .command('serve', { isDefault: true })
    .description('start the HTTP server (the default command)')
    .action(() => serve(loadConfigOrExit()));
  program.addCommand(migrateCommand());
  program.addCommand(keysCommand());
  program.addCommand(auditCommand());
  program.addCommand(seedCommand());
  return program;
}

/** Runs the program; an unexpected failure prints one line and exits non-zero. */
export async function runCli(argv: string[]): Promise<void> {
  // A reader that leaves early (`hub migrate status | head -1`) ends the output, not the command,
  // which still closes its database; unheard, the EPIPE would end the process with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
  }
  try {
    await createProgram().parseAsync(argv);
  } catch (error) {
    console.error(`hub: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
