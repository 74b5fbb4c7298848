import { createRequire } from 'node:module';
import { Command } from 'commander';
import { auditCommand } from './audit.js';
import { loadConfigOrExit } from './config.js';
import { keysCommand } from './keys.js';
import { migrateCommand } from './migrate.js';
import { seedCommand } from './seed.js';

/**
 * The line under an unknown command, at every level that has subcommands: where to look, without
 * burying the error in help. A command's own argument errors stay one line (`hub seed --users 0`).
 */
const HELP_HINT = '(add --help for additional information)';

/** The release, as package.json names it. */
const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** The `hub` command and its subcommands; each has `--help`. */
function createProgram(): Command {
  const program = new Command('hub').description('Identity and consent hub: customers, their agents and consents, behind one GraphQL API').version(version);
  program
    .command('serve')
    .description('start the HTTP server (the default command)')
    // Loaded when run: the other commands start without loading the whole server.
    .action(async () => (await import('./serve.js')).serve(loadConfigOrExit()));
  program.addCommand(migrateCommand());
  program.addCommand(keysCommand());
  program.addCommand(auditCommand());
  program.addCommand(seedCommand());
  // Commands built on their own and then added do not inherit their parent's settings.
  for (const command of commandGroups(program)) command.showHelpAfterError(HELP_HINT);
  return program;
}

/** `command` and every command below it that has subcommands of its own. */
function* commandGroups(command: Command): Generator<Command> {
  yield command;
  for (const sub of command.commands) if (sub.commands.length > 0) yield* commandGroups(sub);
}

/**
 * The arguments as commander is to read them. `hub` alone serves and `hub migrate` alone migrates
 * up, but these are not commander's default subcommands: commander would hand a default whatever
 * word it does not know, so `hub bogus` would be `hub serve bogus`, a serve error. Anything beyond
 * the bare command is parsed as typed, and a mistyped command is commander's unknown-command error.
 */
function withDefaultCommand(args: readonly string[]): string[] {
  if (args.length === 0) return ['serve'];
  if (args.length === 1 && args[0] === 'migrate') return ['migrate', 'up'];
  return [...args];
}

/** Runs the program; an unexpected failure prints one line and exits non-zero. */
export async function runCli(argv: string[]): Promise<void> {
  // A reader that leaves early (`hub migrate status | head -1`) ends the output, not the command,
  // which still closes its database; unheard, the EPIPE would end the process with a stack trace.
  // Output lost otherwise (ENOSPC, a full disk) ends the command non-zero, once it is done; `hub
  // serve` goes on serving without it, as without its log, rather than fall with a secret unshown.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') process.exitCode = 1;
    });
  }
  try {
    await createProgram().parseAsync(withDefaultCommand(argv.slice(2)), { from: 'user' });
  } catch (error) {
    console.error(`hub: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
