import type { Config, Logger } from '@agentq/shared';
import { LocalSandboxProvider } from './local/local-provider.js';
import type { SandboxProvider } from './sandbox-provider.js';

/**
 * The configured sandbox provider (`AGENTQ_SANDBOX_PROVIDER`). The Docker and Modal clients are
 * loaded only when chosen (the Modal SDK reads its profile file when loaded).
 */
export async function createProvider(config: Config, logger: Logger): Promise<SandboxProvider> {
  switch (config.sandboxProvider) {
    case 'local': {
      const choice = await LocalSandboxProvider.resolveIsolation(config.local.isolation, { dataDir: config.dataDir });
      if (choice.isolation === 'none') {
        logger.warn(
          { provider: 'local', isolation: 'none', reason: choice.reason },
          `AGENTS RUN UNISOLATED: local sandboxes can read and write everything this machine's user can (${choice.reason})`,
        );
      } else logger.info({ provider: 'local', isolation: 'bwrap' }, 'local sandboxes run agents under bubblewrap');
      return new LocalSandboxProvider({
        dataDir: config.dataDir,
        isolation: choice.isolation,
        isolationNote: choice.reason,
        readPaths: config.local.readPaths,
        hide: config.local.hide,
      });
    }
    case 'docker': {
      const { createDockerProvider } = await import('./docker/docker-provider.js');
      return createDockerProvider(config, logger.child({ provider: 'docker' }));
    }
    case 'modal': {
      const { createModalProvider } = await import('./modal/modal-provider.js');
      return createModalProvider(config, logger.child({ provider: 'modal' }));
    }
  }
}

/** What the configuration asks for that the chosen provider cannot do, said once at start. */
export function providerWarnings(config: Config): string[] {
  const out: string[] = [];
  if (config.sandbox.allowedDomains && config.sandboxProvider !== 'modal') {
    out.push(`AGENTQ_SANDBOX_ALLOWED_DOMAINS is enforced by the modal provider only; ${config.sandboxProvider} sandboxes are not limited by it`);
  }
  return out;
}
