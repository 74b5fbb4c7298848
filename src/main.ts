import { runCli } from './cli/program.js';

// Process entry of `npm start`: the `hub serve` command, with the environment's configuration.
await runCli([process.argv[0]!, process.argv[1]!, 'serve']);
