import { ConfigError, DEMO_REPO, loadConfig } from '@agentq/shared';
import { prepareDataDir } from './supervisor/prepare-data-dir.js';

/**
 * Prepares a data dir for services started on their own (docker compose, Kubernetes): what
 * `npm start` does before starting them. Run: node --import tsx cli/src/setup.ts
 */
try {
  const config = loadConfig(process.env);
  const prepared = await prepareDataDir(config);
  process.stdout.write(
    `data dir ${config.dataDir} is ready` +
      `${prepared.generatedToken ? ` (API token in ${config.dataDir}/api-token)` : ''}` +
      `${prepared.seededDemo ? `; created the demo repository ${DEMO_REPO}` : ''}\n`,
  );
} catch (err) {
  process.stderr.write(`error: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
