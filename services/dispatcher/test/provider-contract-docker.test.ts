import Dockerode from 'dockerode';
import { DockerSandboxProvider } from '../src/providers/docker/docker-provider.js';
import { FakeDockerEngine } from './support/fake-docker-engine.js';
import { describeProviderContract, type ContractTarget } from './support/provider-contract.js';

const FAKE_IMAGE = 'agentq-sandbox:contract';
let engine: FakeDockerEngine | undefined;

describeProviderContract('docker (fake Engine API)', {
  create: async () => {
    engine = await FakeDockerEngine.start({ images: [FAKE_IMAGE] });
    return new DockerSandboxProvider({ docker: engine.client(), image: FAKE_IMAGE, cpu: 1, memoryMb: 512, graceMs: 1000, pollMs: 50 });
  },
  destroy: async () => {
    await engine?.close();
  },
  inherits: true,
});

/** Where dockerode looks for an engine when it is given no address. */
const where = process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';

/** True when a Docker engine answers `_ping` at dockerode's default address within a second. */
async function engineAnswers(): Promise<boolean> {
  try {
    await new Dockerode({ timeout: 1000 }).ping();
    return true;
  } catch {
    return false;
  }
}

/** Pulls the image up front, so that no contract test pays for it. */
async function pulled(docker: Dockerode, image: string): Promise<void> {
  const present = await docker.getImage(image).inspect().then(() => true, () => false);
  if (present) return;
  const progress = (await docker.pull(image)) as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) => {
    progress.on('end', () => resolve());
    progress.on('error', reject);
    progress.resume();
  });
}

const realImage = process.env.AGENTQ_TEST_DOCKER_IMAGE || 'debian:bookworm-slim';
const real: ContractTarget = (await engineAnswers())
  ? {
      create: async () => {
        const docker = new Dockerode();
        await pulled(docker, realImage);
        return new DockerSandboxProvider({ docker, image: realImage, cpu: 1, memoryMb: 512, graceMs: 2000, pollMs: 100 });
      },
      inherits: true,
      testTimeoutMs: 120_000,
    }
  : { skip: `no Docker engine answers at ${where}` };

describeProviderContract('docker', real);
