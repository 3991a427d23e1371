import { execFile } from 'node:child_process';
import { AgentqError } from '../errors.js';

export interface GitResult {
  stdout: string;
  stderr: string;
}

/** Runs the real git CLI without prompts; rejects with code GIT_FAILED and git's own message. */
export function git(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...options.env },
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) {
          const message = stderr.trim().split('\n').slice(-3).join(' ') || err.message;
          reject(new AgentqError('GIT_FAILED', `git ${args[0] ?? ''} failed: ${message}`, { cause: err }));
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}
