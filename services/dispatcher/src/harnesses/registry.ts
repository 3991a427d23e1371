import type { HarnessName } from '@agentq/shared';
import { claudeCodeHarness } from './claude-code.js';
import { codexHarness } from './codex.js';
import { commandHarness } from './command.js';
import { demoHarness } from './demo.js';
import type { Harness } from './harness.js';

/** Every harness the dispatcher can run, by the name tasks use. */
export const HARNESSES: Readonly<Record<HarnessName, Harness>> = {
  'claude-code': claudeCodeHarness,
  codex: codexHarness,
  command: commandHarness,
  demo: demoHarness,
};

export function harnessFor(name: string): Harness | undefined {
  return Object.hasOwn(HARNESSES, name) ? HARNESSES[name as HarnessName] : undefined;
}
