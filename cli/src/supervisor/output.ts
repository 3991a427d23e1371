import type { OutputStream } from '../io.js';
import type { Style } from '../render/style.js';

const WIDTH = 10;

/** How the supervisor talks: its own messages, and the output of each process prefixed by its name. */
export interface SupervisorOutput {
  line(source: string, text: string): void;
  say(text: string): void;
  block(text: string): void;
}

export function createSupervisorOutput(out: OutputStream, style: Style): SupervisorOutput {
  const colors: Record<string, (s: string) => string> = {
    ingress: style.cyan,
    dispatcher: style.green,
    relay: style.yellow,
    redis: style.red,
    agentq: style.bold,
  };
  const write = (text: string) => {
    try {
      out.write(text);
    } catch {
      // a closed terminal must not take the supervisor down
    }
  };
  const prefix = (source: string) => (colors[source] ?? style.dim)(`${source.padEnd(WIDTH)}│ `);
  return {
    line: (source, text) => write(`${prefix(source)}${text}\n`),
    say: (text) => write(`${prefix('agentq')}${text}\n`),
    block: (text) => write(text),
  };
}
