import type { Config } from '@agentq/shared';

export type ProviderName = 'anthropic' | 'openai';

/** What the client sees of a refusal: the status and the provider's own error body. */
export interface ProviderError {
  status: number;
  body: unknown;
}

/** One upstream API: where calls go, with which credential, and how it shapes errors. */
export interface Provider {
  name: ProviderName;
  /** The upstream base URL the rest of the path is appended to. */
  baseUrl: string;
  /** Headers carrying the real credential (secret). */
  credentials: Record<string, string>;
}

/** The upstreams configured; a provider missing here answers 503 in its own error shape. */
export function configuredProviders(gateway: Config['gateway']): Partial<Record<ProviderName, Provider>> {
  const providers: Partial<Record<ProviderName, Provider>> = {};
  const { anthropic, openai } = gateway;
  if (anthropic) {
    const credentials: Record<string, string> =
      anthropic.apiKey !== undefined ? { 'x-api-key': anthropic.apiKey } : { authorization: `Bearer ${anthropic.authToken ?? ''}` };
    providers.anthropic = { name: 'anthropic', baseUrl: anthropic.baseUrl, credentials };
  }
  if (openai) providers.openai = { name: 'openai', baseUrl: openai.baseUrl, credentials: { authorization: `Bearer ${openai.apiKey}` } };
  return providers;
}

const ANTHROPIC_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  502: 'api_error',
  503: 'api_error',
};

/** An error body as the provider writes it. */
export function providerError(provider: ProviderName, status: number, message: string, openaiCode?: string): ProviderError {
  if (provider === 'anthropic') {
    return { status, body: { type: 'error', error: { type: ANTHROPIC_TYPES[status] ?? 'api_error', message } } };
  }
  const type = status === 429 ? (openaiCode === 'insufficient_quota' ? 'insufficient_quota' : 'requests') : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { status, body: { error: { message, type, param: null, code: openaiCode ?? null } } };
}
