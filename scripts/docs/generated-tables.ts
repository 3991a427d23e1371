import { DISPATCH_ERRORS } from '@agentq/dispatcher';
import { BUILT_IN_PRICES, INGRESS_ERRORS } from '@agentq/ingress';
import { RELAY_ERRORS } from '@agentq/log-relay';
import { configTable, errorTable } from '@agentq/shared';

/**
 * Every table of the docs that is generated from code, by the name its markers carry
 * (`<!-- generated:<name> -->` … `<!-- /generated -->`).
 */
export const GENERATED_TABLES: Readonly<Record<string, () => string>> = {
  config: configTable,
  'ingress-errors': () => errorTable(INGRESS_ERRORS, { status: true }),
  'task-errors': () => errorTable(DISPATCH_ERRORS),
  'relay-errors': () => errorTable(RELAY_ERRORS),
  'model-prices': modelPricesTable,
};

/** The model gateway's built-in prices, USD per million tokens. */
function modelPricesTable(): string {
  const usd = (value: number | undefined) => (value === undefined ? '—' : String(value));
  const rows = Object.entries(BUILT_IN_PRICES).map(
    ([model, p]) => `| \`${model}\` | ${usd(p.input)} | ${usd(p.output)} | ${usd(p.cacheRead)} | ${usd(p.cacheWrite)} |`,
  );
  return ['| model | input | output | cache read | cache write |', '|---|---|---|---|---|', ...rows].join('\n');
}
