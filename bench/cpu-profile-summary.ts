/*
 * Summarises a V8 CPU profile (`node --cpu-prof`, or `BENCH_CPU_PROF=<dir> npm run bench --
 * enqueue`): self time by package or source file, the functions with the most self time, and the
 * functions with the most total (self + callees) time: the project's own, or with `all`, every one.
 * Time spent in V8 builtins (JSON.stringify, RegExp, ...) counts as the self time of their caller.
 *
 *   node --import tsx bench/cpu-profile-summary.ts <file.cpuprofile> [top=25] [all]
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: a package, one of our files, Node's internals, or V8 itself. */
export function placeOf(url: string): string {
  if (url === '') return '(v8 / native)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return pkg[1];
  const own = /\/((?:services\/[^/]+|shared|cli|bench)\/.*)$/.exec(url);
  return own?.[1] ?? url;
}

function frameName(frame: CallFrame): string {
  const fn = frame.functionName || '(anonymous)';
  if (frame.url === '') return fn;
  return `${fn} ${placeOf(frame.url)}:${frame.lineNumber + 1}`;
}

function top(map: Map<string, number>, n: number): [string, number][] {
  return [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
}

export function summarise(profile: CpuProfile, n = 25, everyFunction = false): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const idle = [...byId.values()].filter((node) => node.callFrame.functionName === '(idle)').reduce((sum, node) => sum + (self.get(node.id) ?? 0), 0);
  const busy = total - idle;

  const selfByPlace = new Map<string, number>();
  const selfByFunction = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)') continue;
    const place = placeOf(frame.url);
    selfByPlace.set(place, (selfByPlace.get(place) ?? 0) + us);
    selfByFunction.set(frameName(frame), (selfByFunction.get(frameName(frame)) ?? 0) + us);
  }

  // total time by function: a function counts once per stack even when it recurses
  const inclusive = new Map<string, number>();
  const walk = (id: number, onStack: Set<string>): number => {
    const node = byId.get(id);
    if (!node) return 0;
    let sum = self.get(id) ?? 0;
    const name = frameName(node.callFrame);
    const own = (everyFunction || /^(services|shared)\//.test(placeOf(node.callFrame.url))) && !onStack.has(name);
    if (own) onStack.add(name);
    for (const child of node.children ?? []) sum += walk(child, onStack);
    if (own) {
      onStack.delete(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + sum);
    }
    return sum;
  };
  const root = profile.nodes[0];
  if (root) walk(root.id, new Set());

  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const lines = [`busy ${ms(busy)} of ${ms(total)} sampled (idle ${ms(idle)})`, '', 'self time by place'];
  for (const [place, us] of top(selfByPlace, n)) lines.push(`  ${pct(us)} ${ms(us)}  ${place}`);
  lines.push('', 'self time by function');
  for (const [name, us] of top(selfByFunction, n)) lines.push(`  ${pct(us)} ${ms(us)}  ${name}`);
  lines.push('', everyFunction ? 'total time by function' : 'total time of our own functions');
  for (const [name, us] of top(inclusive, n)) lines.push(`  ${pct(us)} ${ms(us)}  ${name}`);
  return lines.join('\n');
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const [file, count, all] = process.argv.slice(2);
  if (!file) throw new Error('usage: cpu-profile-summary.ts <file.cpuprofile> [top] [all]');
  console.log(summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(count ?? 25), all === 'all'));
}
