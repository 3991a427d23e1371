import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, freePort, loadConfig, type Config } from '@agentq/shared';
import { CliError } from './api/cli-error.js';
import { createStyle } from './render/style.js';
import { createSupervisorOutput } from './supervisor/output.js';
import { Supervisor } from './supervisor/supervisor.js';

const rootDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const style = createStyle(process.stdout, process.env);
const output = createSupervisorOutput(process.stdout, style);
process.stdout.on('error', () => {});

function fail(message: string, hint?: string): never {
  output.say(`${style.red('error:')} ${message}`);
  if (hint) output.say(`${style.dim('hint:')} ${hint}`);
  process.exit(1);
}

/** The configuration, with a free port chosen for any port configured as 0. */
async function configure(env: NodeJS.ProcessEnv): Promise<Config> {
  let config = loadConfig(env);
  const zero = (['AGENTQ_PORT', 'AGENTQ_INGRESS_OPS_PORT', 'AGENTQ_DISPATCHER_PORT', 'AGENTQ_RELAY_PORT'] as const).filter((name) => env[name] === '0');
  if (zero.length === 0) return config;
  for (const name of zero) env[name] = String(await freePort());
  config = loadConfig(env);
  return config;
}

const env = { ...process.env };
let config: Config;
try {
  config = await configure(env);
} catch (err) {
  if (err instanceof ConfigError) fail(err.message);
  throw err;
}

const supervisor = new Supervisor({
  config,
  env,
  rootDir,
  cwd: process.cwd(),
  output,
  style,
  tty: Boolean(process.stdout.isTTY),
});

let stopping = false;
const stop = (reason: string) => {
  if (stopping) {
    output.say(`${reason} again: killing everything`);
    supervisor.forceStop();
    process.exit(1);
  }
  stopping = true;
  output.say(`${reason}: stopping agentq (${reason === 'SIGINT' ? 'Ctrl-C' : reason} again to force)`);
  supervisor.stop().then(
    () => {
      output.say('stopped');
      process.exit(0);
    },
    (err: unknown) => {
      output.say(`${style.red('error:')} stopping failed: ${err instanceof Error ? err.message : String(err)}`);
      supervisor.forceStop();
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGHUP', () => stop('SIGHUP'));

try {
  await supervisor.start();
} catch (err) {
  if (!stopping) {
    stopping = true;
    await supervisor.stop().catch(() => supervisor.forceStop());
    if (err instanceof CliError) fail(err.message, err.hint);
    fail(err instanceof Error ? (err.stack ?? err.message) : String(err));
  }
}
