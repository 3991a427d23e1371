import { makeTempDir } from '@agentq/shared/testing';
import { LocalSandboxProvider } from '../src/providers/local/local-provider.js';
import { describeProviderContract } from './support/provider-contract.js';

let tmp: { path: string; remove: () => Promise<void> } | undefined;

describeProviderContract('local', {
  create: async () => {
    tmp = await makeTempDir('agentq-contract-');
    return new LocalSandboxProvider({ dataDir: tmp.path, graceMs: 300, pollMs: 25 });
  },
  destroy: async () => {
    await tmp?.remove();
  },
  inherits: true,
});
