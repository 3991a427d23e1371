import { readFileSync } from 'node:fs';

/** Keys of the Secret table in deploy/k8s/README.md (first column, backticked) with the services of its second column. */
export function documentedSecretKeys(readmePath: string): Map<string, string[]> {
  const readme = readFileSync(readmePath, 'utf8');
  const start = readme.indexOf('\n## Secret');
  if (start < 0) throw new Error(`${readmePath}: no "## Secret" section`);
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const out = new Map<string, string[]>();
  for (const row of section.split('\n').filter((l) => l.startsWith('| `'))) {
    const [keys = '', usedBy = ''] = row.split('|').slice(1).map((c) => c.trim());
    const services = usedBy.split(',').map((s) => s.trim());
    for (const k of keys.match(/`([A-Z0-9_]+)`/g) ?? []) out.set(k.replace(/`/g, ''), services);
  }
  return out;
}
