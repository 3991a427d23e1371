import { join } from 'node:path';
import { copyBuildAssets } from './build/build-packages.js';

/** The second half of `npm run build`: after `tsc -b`, the non-TypeScript files of the sources go next to the compiled code. */
for (const asset of copyBuildAssets(join(import.meta.dirname, '..'))) process.stdout.write(`copied ${asset}\n`);
