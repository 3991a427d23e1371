/** One instruction of a Dockerfile: its keyword (upper case) and the rest of its logical line. */
export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** A build stage: `FROM <image> [AS <name>]` and the instructions up to the next FROM. */
export interface Stage {
  name: string | undefined;
  /** The image or stage it starts from, with the global ARGs' defaults put in. */
  from: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

/** Joins continued lines and drops comments and blank lines (parser directives are comments too). */
export function instructionsOf(content: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  content.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) return;
    if (pending && line.startsWith('#')) return;
    const continued = line.endsWith('\\');
    const text = continued ? line.slice(0, -1).trim() : line;
    pending = pending ? { text: `${pending.text} ${text}`.trim(), line: pending.line } : { text, line: index + 1 };
    if (continued) return;
    const [keyword = '', ...rest] = pending.text.split(/\s+/);
    instructions.push({ keyword: keyword.toUpperCase(), args: rest.join(' '), line: pending.line });
    pending = undefined;
  });
  if (pending) throw new Error(`line ${pending.line}: the last instruction is continued past the end of the file`);
  return instructions;
}

/** `${NAME}` and `$NAME` replaced by the given values (unknown names stay as written). */
export function substitute(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => values[braced ?? bare ?? ''] ?? whole);
}

/** ARG `NAME=default` (or `NAME`) as a name and a default. */
export function parseArg(args: string): [string, string] {
  const eq = args.indexOf('=');
  if (eq < 0) return [args.trim(), ''];
  return [args.slice(0, eq).trim(), args.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1')];
}

export function parseDockerfile(content: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const instruction of instructionsOf(content)) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith('--platform'));
      const name = words[1]?.toUpperCase() === 'AS' ? words[2] : undefined;
      stages.push({ name, from: substitute(words[0] ?? '', globalArgs), instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== 'ARG') throw new Error(`line ${instruction.line}: only ARG may come before the first FROM`);
      const [name, value] = parseArg(instruction.args);
      globalArgs[name] = value;
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

/** A stage and the stages it is built FROM, the base first (the chain whose layers make its image). */
export function stageChain(file: Dockerfile, name: string): Stage[] {
  const chain: Stage[] = [];
  let stage = file.stages.find((s) => s.name === name);
  while (stage) {
    chain.unshift(stage);
    const from = stage.from;
    stage = file.stages.find((s) => s.name === from);
  }
  return chain;
}

/** The arguments of a stage chain's instructions of one keyword, in order. */
export function argsOf(chain: Stage[], keyword: string): string[] {
  return chain.flatMap((s) => s.instructions.filter((i) => i.keyword === keyword).map((i) => i.args));
}

/** The exec form (`["a", "b"]`) of a CMD or ENTRYPOINT as its words. */
export function execForm(args: string | undefined): string[] {
  const parsed: unknown = JSON.parse(args ?? 'null');
  if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === 'string')) throw new Error(`not an exec form: ${args}`);
  return parsed as string[];
}
