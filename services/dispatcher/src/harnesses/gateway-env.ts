import type { GatewayAccess, HarnessCommand } from './harness.js';

/** Where an OpenAI-speaking agent finds its gateway token (Codex's `env_key`). */
export const MODEL_TOKEN_VAR = 'AGENTQ_MODEL_TOKEN';
/** The model provider Codex is given on its command line: the gateway. */
export const CODEX_PROVIDER = 'agentq';

/**
 * What an agent gets for Anthropic's API: the gateway's Anthropic route and the task's token. The
 * dispatcher does not hold model keys, so it does not know which providers the gateway serves: a
 * provider the gateway has no credentials for answers 503 in that provider's own format.
 */
export function anthropicGateway(gateway: GatewayAccess | undefined): Pick<HarnessCommand, 'env' | 'secrets'> {
  if (!gateway) return { env: {}, secrets: {} };
  return { env: { ANTHROPIC_BASE_URL: `${gateway.url}/llm/anthropic` }, secrets: { ANTHROPIC_API_KEY: gateway.token } };
}

/** What an agent gets for OpenAI's API: the gateway's OpenAI route and the task's token. */
export function openaiGateway(gateway: GatewayAccess | undefined): Pick<HarnessCommand, 'env' | 'secrets'> {
  if (!gateway) return { env: {}, secrets: {} };
  return { env: { OPENAI_BASE_URL: `${gateway.url}/llm/openai` }, secrets: { [MODEL_TOKEN_VAR]: gateway.token } };
}

/** Both: for agents (the `command` and `demo` harnesses) that may call either provider. */
export function anyGateway(gateway: GatewayAccess | undefined): Pick<HarnessCommand, 'env' | 'secrets'> {
  const anthropic = anthropicGateway(gateway);
  const openai = openaiGateway(gateway);
  return { env: { ...anthropic.env, ...openai.env }, secrets: { ...anthropic.secrets, ...openai.secrets } };
}

/**
 * Codex's model provider as `-c` overrides (values in TOML; an inline table stays on one line):
 * the gateway's OpenAI route, speaking the Responses API, with the token from `AGENTQ_MODEL_TOKEN`.
 * Codex ignores `OPENAI_BASE_URL`.
 */
export function codexProviderArgs(gateway: GatewayAccess | undefined): string[] {
  if (!gateway) return [];
  const provider = `{name=${toml(CODEX_PROVIDER)}, base_url=${toml(`${gateway.url}/llm/openai`)}, env_key=${toml(MODEL_TOKEN_VAR)}, wire_api="responses"}`;
  return ['-c', `model_provider=${toml(CODEX_PROVIDER)}`, '-c', `model_providers.${CODEX_PROVIDER}=${provider}`];
}

/** A TOML basic string (JSON's escapes are TOML's for what a URL can hold). */
function toml(value: string): string {
  return JSON.stringify(value);
}
