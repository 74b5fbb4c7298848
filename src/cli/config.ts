import { ConfigError, loadConfig, type Config } from '../config.js';

/** The configuration, or a one-line error naming the bad variable and exit code 78 (EX_CONFIG). */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`hub: configuration error: ${error.message}`);
    process.exit(78);
  }
}
