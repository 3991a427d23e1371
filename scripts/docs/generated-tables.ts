import { DISPATCH_ERRORS } from '@agentq/dispatcher';
import { INGRESS_ERRORS } from '@agentq/ingress';
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
};
