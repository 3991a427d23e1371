import { mkdir } from 'node:fs/promises';
import { DEMO_REPO, DEMO_REPO_FILES, LocalForge, resolveApiTokens, resolveViewerSecret, type ApiToken, type Config } from '@agentq/shared';

export interface PreparedDataDir {
  tokens: ApiToken[];
  /** The API token was generated (and stored in the data dir) rather than configured. */
  generatedToken: boolean;
  /** The demo repository was created just now. */
  seededDemo: boolean;
}

/**
 * Makes the data dir ready for the services: the directory, the API token and viewer secret
 * (generated once when not configured), and the demo repository of the quick start.
 */
export async function prepareDataDir(config: Config): Promise<PreparedDataDir> {
  await mkdir(config.dataDir, { recursive: true });
  const { tokens, generated } = resolveApiTokens(config);
  resolveViewerSecret(config);
  const seededDemo = await new LocalForge(config.dataDir).seed(DEMO_REPO, DEMO_REPO_FILES, {
    name: config.gitAuthorName,
    email: config.gitAuthorEmail,
  });
  return { tokens, generatedToken: generated, seededDemo };
}
