import type { z } from 'zod';
import type { FieldProblem } from './ingress-errors.js';

function joinPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out.length === 0 ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** One entry per offending field, unknown fields named one by one. */
export function fieldProblems(error: z.ZodError, root = 'body'): FieldProblem[] {
  const out: FieldProblem[] = [];
  for (const issue of error.issues) {
    const base = joinPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: base ? `${base}.${key}` : key, message: 'unknown field' });
      continue;
    }
    out.push({ path: base || root, message: issue.message });
  }
  return out;
}
