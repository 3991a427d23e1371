import { cpSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The workspace packages `npm run build` compiles, each from `<package>/src` into `<package>/dist`. */
export const BUILD_PACKAGES = ['shared', 'services/ingress', 'services/dispatcher', 'services/log-relay', 'cli'] as const;

/** Source folders left out of the build (`exclude` of their tsconfig.build.json): test support. */
export const UNBUILT_SOURCES = ['shared/src/testing'];

/** The export condition that selects the compiled files (`node --conditions=agentq-dist`). */
export const DIST_CONDITION = 'agentq-dist';

/** Where `npm run build` puts the file compiled from a source (`services/ingress/src/main.ts` → `services/ingress/dist/main.js`). */
export function compiledPath(source: string): string {
  return source.replace(/^(.+?)\/src\//, '$1/dist/').replace(/\.ts$/, '.js');
}

/**
 * Files in the built packages' sources that are not TypeScript (scripts the code reads or runs
 * next to itself through `import.meta.url`: the run script, the demo agent), relative to `root`.
 */
export function buildAssets(root: string): string[] {
  return BUILD_PACKAGES.flatMap((pkg) =>
    readdirSync(join(root, pkg, 'src'), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && !entry.name.endsWith('.ts'))
      .map((entry) => relative(root, join(entry.parentPath, entry.name)))
      .filter((path) => !UNBUILT_SOURCES.some((dir) => path.startsWith(`${dir}/`))),
  );
}

/** Copies the non-TypeScript files of the sources into dist/, where the compiled code looks for them. */
export function copyBuildAssets(root: string): string[] {
  const assets = buildAssets(root);
  for (const asset of assets) cpSync(join(root, asset), join(root, compiledPath(asset)), { preserveTimestamps: true });
  return assets;
}
