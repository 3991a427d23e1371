import { SETTINGS } from './settings.js';

/** The configuration table of `docs/configuration.md`, generated from the settings. */
export function configTable(): string {
  const rows = SETTINGS.map((s) => {
    const secret = 'secret' in s && s.secret ? ' Secret: never logged or printed.' : '';
    return `| \`${s.env}\` | ${s.shown} | ${s.doc}${secret} |`;
  });
  return ['| Variable | Default | Meaning |', '|---|---|---|', ...rows].join('\n');
}
