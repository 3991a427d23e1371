import { join } from 'node:path';
import { makeTempDir } from '@agentq/shared/testing';
import { ModalClient } from 'modal';
import type { ModalApi } from '../src/providers/modal/modal-api.js';
import { ModalSandboxProvider } from '../src/providers/modal/modal-provider.js';
import { ModalDouble } from './support/modal-double.js';
import { describeProviderContract } from './support/provider-contract.js';

let tmp: { path: string; remove: () => Promise<void> } | undefined;
let double: ModalDouble | undefined;

describeProviderContract('modal (SDK double)', {
  create: async () => {
    tmp = await makeTempDir('agentq-modal-contract-');
    const root = join(tmp.path, 'agentq');
    double = new ModalDouble({ dir: join(tmp.path, 'sandboxes'), privatePaths: [root] });
    return new ModalSandboxProvider({
      client: double,
      app: 'agentq-contract',
      image: 'debian:bookworm-slim',
      cpu: 1,
      memoryMiB: 512,
      secretNames: [],
      allowedDomains: undefined,
      root,
      pollMs: 25,
      graceMs: 5000,
    });
  },
  destroy: async () => {
    await double?.shutdown();
    await tmp?.remove();
  },
  inherits: false,
});

const tokenId = process.env.MODAL_TOKEN_ID;
const tokenSecret = process.env.MODAL_TOKEN_SECRET;
let client: ModalApi | undefined;

describeProviderContract(
  'modal',
  tokenId && tokenSecret
    ? {
        create: async () => {
          client = new ModalClient({ tokenId, tokenSecret, environment: process.env.MODAL_ENVIRONMENT || undefined });
          return new ModalSandboxProvider({
            client,
            app: process.env.AGENTQ_TEST_MODAL_APP || 'agentq-contract-test',
            environment: process.env.MODAL_ENVIRONMENT || undefined,
            image: process.env.AGENTQ_TEST_MODAL_IMAGE || 'debian:bookworm-slim',
            cpu: 0.25,
            memoryMiB: 512,
            secretNames: [],
            allowedDomains: undefined,
            pollMs: 500,
            graceMs: 60_000,
          });
        },
        destroy: async () => {
          client?.close();
        },
        inherits: false,
        testTimeoutMs: 180_000,
      }
    : { skip: 'MODAL_TOKEN_ID / MODAL_TOKEN_SECRET are not set (real Modal needs an account)' },
);
