import { fileURLToPath } from 'node:url';
import { anyGateway } from './gateway-env.js';
import type { Harness } from './harness.js';
import { StreamJsonParser } from './stream-json-parser.js';

/** The bundled demo agent (plain Node, no dependencies), run with the `node` on the sandbox's PATH. */
export const DEMO_AGENT_PATH = fileURLToPath(new URL('./demo-agent.mjs', import.meta.url));
/** Where the sandbox image (`deploy/sandbox/Dockerfile`) puts it, for `docker` and `modal` sandboxes. */
export const IMAGE_DEMO_AGENT_PATH = '/usr/local/lib/agentq/demo-agent.mjs';

/**
 * The `demo` harness: a scripted agent that speaks Claude Code's stream-json and makes a real,
 * prompt-dependent edit, so agentq can be tried with no API key and no network.
 */
export const demoHarness: Harness = {
  name: 'demo',
  command: (ctx) => {
    const script = ctx.config.sandboxProvider === 'local' ? DEMO_AGENT_PATH : IMAGE_DEMO_AGENT_PATH;
    const gateway = anyGateway(ctx.gateway);
    return {
      argv: ['node', script, ...(ctx.resumeSessionId ? [`--resume=${ctx.resumeSessionId}`] : []), '--', ctx.prompt],
      env: { AGENTQ_DEMO_DELAY_MS: String(ctx.config.demoDelayMs), ...gateway.env },
      secrets: gateway.secrets,
      readPaths: [script],
    };
  },
  createParser: () => new StreamJsonParser(),
  /** The demo agent's sessions: `~/.agentq-demo/sessions/<session id>.json`. */
  sessionFiles: ['.agentq-demo'],
};
