/*
 * Summarises a V8 CPU profile (`node --cpu-prof`, or `BENCH_CPU_PROF=<dir> npm run bench --
 * enqueue`): self time by package or source file (where the code runs, and charged to the nearest
 * package or file on the stack), the functions with the most self time, and the
 * functions with the most total (self + callees) time: the project's own, or with `all`, every one.
 * Time spent in V8 builtins (JSON.stringify, RegExp, ...) counts as the self time of their caller.
 *
 *   node --import tsx bench/cpu-profile-summary.ts <file.cpuprofile> [--top=25] [--all] [--answers=N]
 *
 * With `--answers`, the number of requests the profile covers, times are also given per answer.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

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

export interface SummaryOptions {
  top?: number;
  /** Total time of every function, not only the project's own. */
  everyFunction?: boolean;
  /** Requests answered while profiling: times are also shown per answer. */
  answers?: number;
}

export function summarise(profile: CpuProfile, options: SummaryOptions = {}): string {
  const n = options.top ?? 25;
  const everyFunction = options.everyFunction ?? false;
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

  // total time by function (a function counts once per stack even when it recurses), and self
  // time charged to the nearest package or source file on the stack (V8 and Node internals work
  // for their caller: a socket write is charged to the client library that wrote)
  const inclusive = new Map<string, number>();
  const charged = new Map<string, number>();
  const walk = (id: number, onStack: Set<string>, caller: string): number => {
    const node = byId.get(id);
    if (!node) return 0;
    const { url, functionName } = node.callFrame;
    const place = placeOf(url);
    const charge = url === '' && functionName.startsWith('(') ? functionName : place === '(v8 / native)' || place === 'node internals' ? caller : place;
    let sum = self.get(id) ?? 0;
    if (functionName !== '(idle)' && sum > 0) charged.set(charge, (charged.get(charge) ?? 0) + sum);
    const name = frameName(node.callFrame);
    const own = (everyFunction || /^(services|shared)\//.test(place)) && !onStack.has(name);
    if (own) onStack.add(name);
    for (const child of node.children ?? []) sum += walk(child, onStack, charge);
    if (own) {
      onStack.delete(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + sum);
    }
    return sum;
  };
  const root = profile.nodes[0];
  if (root) walk(root.id, new Set(), '(root)');

  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const answers = options.answers;
  const ms = (us: number) =>
    `${(us / 1000).toFixed(0).padStart(7)} ms` + (answers ? ` ${(us / answers).toFixed(1).padStart(7)} µs/answer` : '');
  const lines = [`busy ${ms(busy)} of ${ms(total)} sampled (idle ${ms(idle)})`, '', 'self time by place'];
  for (const [place, us] of top(selfByPlace, n)) lines.push(`  ${pct(us)} ${ms(us)}  ${place}`);
  lines.push('', 'self time charged to the nearest package or source file on the stack');
  for (const [place, us] of top(charged, n)) lines.push(`  ${pct(us)} ${ms(us)}  ${place}`);
  lines.push('', 'self time by function');
  for (const [name, us] of top(selfByFunction, n)) lines.push(`  ${pct(us)} ${ms(us)}  ${name}`);
  lines.push('', everyFunction ? 'total time by function' : 'total time of our own functions');
  for (const [name, us] of top(inclusive, n)) lines.push(`  ${pct(us)} ${ms(us)}  ${name}`);
  return lines.join('\n');
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, all: { type: 'boolean', default: false }, answers: { type: 'string' } },
  });
  const [file] = positionals;
  if (!file) throw new Error('usage: cpu-profile-summary.ts <file.cpuprofile> [--top=25] [--all] [--answers=N]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  console.log(summarise(profile, { top: Number(values.top), everyFunction: values.all, answers: values.answers === undefined ? undefined : Number(values.answers) }));
}
