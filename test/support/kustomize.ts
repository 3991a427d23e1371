import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export type Manifest = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

/** Fails with a clear message when kubectl is not installed: CI has it, and rendering needs no cluster. */
export function requireKubectl(): void {
  const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(`kubectl is required to render deploy/k8s (kubectl kustomize; no cluster needed): ${probe.error?.message ?? probe.stderr}`);
  }
}

/** `kubectl kustomize <dir>`: warnings on stderr are allowed, a non-zero exit fails with its stderr. */
export function kustomize(dir: string): Manifest[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 32 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir}: ${doc.errors[0]?.message}`);
    return doc.toJS() as Manifest;
  });
}

/**
 * Renders an overlay with components added, as the kustomization deploy/k8s/README.md tells
 * users to write: the overlay as a resource, the components, and the overlay's namespace again
 * (a namespace applies to the objects of its own kustomization only, so components need it).
 */
export function kustomizeWith(overlay: string, components: string[]): Manifest[] {
  const dir = mkdtempSync(join(tmpdir(), 'agentq-kustomize-'));
  try {
    const { namespace } = parse(readFileSync(join(overlay, 'kustomization.yaml'), 'utf8')) as { namespace?: string };
    const lines = ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', ...(namespace ? [`namespace: ${namespace}`] : []), 'resources:', `  - ${relative(dir, overlay)}`];
    if (components.length > 0) lines.push('components:', ...components.map((c) => `  - ${relative(dir, c)}`));
    writeFileSync(join(dir, 'kustomization.yaml'), `${lines.join('\n')}\n`);
    return kustomize(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

