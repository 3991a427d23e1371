export { buildApp } from './app.js';
export type { AppDeps } from './app-deps.js';
export { INGRESS_ERRORS, type IngressErrorCode } from './http/ingress-errors.js';
export { BUILT_IN_PRICES, type ModelPrice } from './gateway/model-prices.js';
