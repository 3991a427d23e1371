#!/usr/bin/env node
// The bundled demo agent: no model, no network, no dependencies. It speaks Claude Code's
// stream-json (`--output-format stream-json --verbose`) and makes a real edit that depends on the
// prompt and on the repository, so the whole pipeline can be tried without an API key.
//
//   node demo-agent.mjs [--resume=<session id>] [--] "<prompt>"     (in the repository's working tree)
//
// Sessions are kept in ~/.agentq-demo/sessions/<session id>.json (the requests so far); `--resume`
// (also `--resume <id>`) continues one: the same session id, and the agent recalls the earlier
// requests when the session file is there.
// AGENTQ_DEMO_DELAY_MS sets the pause between steps. A prompt that names a file creates it (or
// adds to it); a question (ending with "?", or asking to show, list, explain...) changes nothing and
// answers; any other request is appended to NOTES.md.
// "environment" in the prompt runs `env`; "fail" makes the run end with an error (exit code 1).

import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, extname, isAbsolute, join, normalize, sep } from 'node:path';

/** `[--resume=<id> | --resume <id>] [--] <prompt>`; the first other argument starts the prompt. */
function parseArgs(args) {
  let resume;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i];
    if (arg === '--') return { resume, prompt: args.slice(i + 1).join(' ') };
    if (arg === '--resume') {
      resume = args[i + 1];
      i += 1;
    } else if (arg.startsWith('--resume=')) {
      resume = arg.slice('--resume='.length);
    } else {
      return { resume, prompt: args.slice(i).join(' ') };
    }
  }
  return { resume, prompt: '' };
}

const args = parseArgs(process.argv.slice(2));
const prompt = args.prompt.trim();
const delayMs = Math.max(0, Number(process.env.AGENTQ_DEMO_DELAY_MS ?? '300') || 0);
const resumeId = args.resume !== undefined && /^[A-Za-z0-9-]{1,100}$/.test(args.resume) ? args.resume : undefined;
const sessionId = resumeId ?? randomUUID();
const sessionFile = join(homedir(), '.agentq-demo', 'sessions', `${sessionId}.json`);
const model = 'agentq-demo';
const started = Date.now();
const cwd = process.cwd();
let turns = 0;
let toolCount = 0;
let messageCount = 0;

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const pause = () => new Promise((resolve) => setTimeout(resolve, delayMs));

function assistant(content) {
  turns += 1;
  messageCount += 1;
  emit({
    type: 'assistant',
    message: {
      id: `msg_demo_${messageCount}`,
      type: 'message',
      role: 'assistant',
      model,
      content,
      stop_reason: null,
      usage: { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    },
    session_id: sessionId,
  });
}

async function say(text) {
  assistant([{ type: 'text', text }]);
  await pause();
}

/** Announces a tool call, runs it, reports its result. */
async function tool(name, input, run) {
  toolCount += 1;
  const id = `toolu_demo_${toolCount}`;
  assistant([{ type: 'tool_use', id, name, input }]);
  await pause();
  let output;
  let isError = false;
  try {
    output = run();
  } catch (err) {
    output = err instanceof Error ? err.message : String(err);
    isError = true;
  }
  emit({
    type: 'user',
    message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: output, is_error: isError }] },
    session_id: sessionId,
  });
  await pause();
  return output;
}

function bash(command) {
  const res = spawnSync('bash', ['-c', command], { encoding: 'utf8', cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = `${res.stdout ?? ''}${res.stderr ?? ''}`.replace(/\n$/, '');
  if (res.status !== 0) throw new Error(out || `exit code ${res.status}`);
  return out;
}

function finish(success, summary) {
  emit({
    type: 'result',
    subtype: success ? 'success' : 'error_during_execution',
    is_error: !success,
    num_turns: turns,
    duration_ms: Date.now() - started,
    duration_api_ms: 0,
    total_cost_usd: 0,
    result: summary,
    session_id: sessionId,
  });
  process.exitCode = success ? 0 : 1;
}

/** Files of the repository (tracked ones), without the agent's own. */
function repoFiles() {
  try {
    return bash('git ls-files').split('\n').filter((f) => f.length > 0);
  } catch {
    return [];
  }
}

/** Relative paths named in the prompt, e.g. "CONTRIBUTING.md" or "docs/setup.txt". */
function namedFiles(text) {
  const re = /(?:^|[\s`"'(])((?:[A-Za-z0-9_.-]+\/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*\.[A-Za-z0-9]{1,10})(?=$|[\s`"'),;:!?]|\.(?:\s|$))/g;
  const out = [];
  for (const match of text.matchAll(re)) {
    const clean = normalize(match[1]);
    if (isAbsolute(clean) || clean.split(sep).some((part) => part === '..' || part === '.git')) continue;
    if (/^\d+(\.\d+)+$/.test(clean)) continue; // a version number
    if (/^[a-z]\.[a-z]$/i.test(clean)) continue; // "e.g", "i.e"
    if (/^(node|vue|next|nuxt|react|express|three|d3|chart)\.js$/i.test(clean)) continue; // names, not files
    out.push(clean);
  }
  return out;
}

/** The file to work on: one the prompt names that exists, else the first one it names. */
function targetFile(text) {
  const names = namedFiles(text);
  return names.find((name) => isFile(join(cwd, name))) ?? names[0];
}

const QUESTION = /^(what|why|how|who|where|when|which|is|are|does|do|can|could|should|explain|describe|list|show|print|tell)\b/i;

function titleOf(file) {
  const stem = basename(file, extname(file)).replace(/[-_]+/g, ' ');
  return stem === stem.toUpperCase() ? stem.charAt(0) + stem.slice(1).toLowerCase() : stem.charAt(0).toUpperCase() + stem.slice(1);
}

/** The repository's name, from its origin URL (the working tree's directory name is arbitrary). */
function projectName() {
  try {
    const name = basename(bash('git remote get-url origin')).replace(/\.git$/, '');
    if (name.length > 0) return name;
  } catch {
    // no origin
  }
  return basename(cwd);
}

function markdownFor(file, files) {
  const list = files.map((f) => `- \`${f}\``).join('\n') || '- (the repository is empty)';
  if (/contributing/i.test(file)) {
    return [
      `# Contributing to ${projectName()}`,
      '',
      'Thanks for taking the time to contribute! This guide explains how changes get in.',
      '',
      '## Getting started',
      '',
      '1. Clone the repository and create a branch for your change.',
      '2. Keep each change focused on one thing, with a clear commit message.',
      '3. Open a pull request describing what changed and why.',
      '',
      '## What is in the repository',
      '',
      list,
      '',
      '## Reporting problems',
      '',
      'Open an issue with the steps to reproduce, what you expected and what happened instead.',
      '',
      `_Requested as: "${prompt}"_`,
      '',
    ].join('\n');
  }
  return [`# ${titleOf(file)}`, '', `> ${prompt}`, '', '## Files in this repository', '', list, ''].join('\n');
}

function contentFor(file, files) {
  const ext = extname(file).toLowerCase();
  if (ext === '.md' || ext === '.markdown') return markdownFor(file, files);
  if (ext === '.json') return `${JSON.stringify({ description: prompt, files }, null, 2)}\n`;
  if (['.js', '.mjs', '.cjs', '.ts'].includes(ext)) {
    return `// ${prompt}\nconsole.log(${JSON.stringify(`${titleOf(file)}: ${files.length} file(s) in the repository`)});\n`;
  }
  if (['.py', '.sh', '.rb', '.yml', '.yaml', '.toml'].includes(ext)) return `# ${prompt}\n`;
  return `${prompt}\n\nFiles in this repository:\n${files.map((f) => `  ${f}`).join('\n')}\n`;
}

function addition(file) {
  const ext = extname(file).toLowerCase();
  if (ext === '.md' || ext === '.markdown') return `\n## Update\n\n${prompt}\n`;
  if (['.js', '.mjs', '.cjs', '.ts'].includes(ext)) return `// ${prompt}\n`;
  if (['.py', '.sh', '.rb', '.yml', '.yaml', '.toml'].includes(ext)) return `# ${prompt}\n`;
  return `${prompt}\n`;
}

function isFile(path) {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Answers a question about the repository without changing it. */
async function answer(files) {
  const counts = files.map((f) => {
    try {
      return `${f} (${readFileSync(join(cwd, f), 'utf8').split('\n').length - 1} lines)`;
    } catch {
      return f;
    }
  });
  const reply = files.length === 0 ? 'The repository has no files yet.' : `The repository has ${files.length} file(s): ${counts.join(', ')}.`;
  await say(reply);
  finish(true, reply);
}

/** The requests of the session so far (empty for a new one, or when its file is not here). */
function earlierRequests() {
  try {
    const saved = JSON.parse(readFileSync(sessionFile, 'utf8'));
    return Array.isArray(saved.requests) ? saved.requests.filter((r) => typeof r === 'string') : [];
  } catch {
    return undefined;
  }
}

function saveSession(requests) {
  try {
    mkdirSync(dirname(sessionFile), { recursive: true });
    writeFileSync(sessionFile, `${JSON.stringify({ sessionId, requests }, null, 2)}\n`);
  } catch {
    // a session that cannot be kept only means a later resume starts afresh
  }
}

async function main() {
  const earlier = resumeId ? earlierRequests() : [];
  saveSession([...(earlier ?? []), prompt]);
  emit({
    type: 'system',
    subtype: 'init',
    cwd,
    session_id: sessionId,
    model,
    tools: ['Bash', 'Write'],
    permissionMode: 'bypassPermissions',
    apiKeySource: 'none',
  });
  await pause();

  if (args.resume !== undefined && !resumeId) {
    await say('That session id is not one I can resume.');
    finish(false, `Cannot resume session ${JSON.stringify(args.resume)}: not a valid session id.`);
    return;
  }
  if (resumeId) {
    await say(
      earlier === undefined
        ? `Resuming session ${sessionId}, but its earlier conversation is not here; I'll work from this request alone.`
        : `Resuming session ${sessionId}. Earlier in this session: ${earlier.map((r) => `"${r}"`).join(', ') || '(nothing)'}.`,
    );
  }

  if (prompt.length === 0) {
    await say('There is no request to work on.');
    finish(false, 'The prompt was empty, so there was nothing to do.');
    return;
  }

  await say(`I'll look at the repository first, then work on: ${prompt}`);
  const listing = await tool('Bash', { command: 'git ls-files', description: 'List the files in the repository' }, () => bash('git ls-files'));
  const files = listing.split('\n').filter((f) => f.length > 0);

  if (/environment/i.test(prompt)) {
    await tool('Bash', { command: 'env', description: 'Print the environment' }, () => bash('env'));
    await tool('Bash', { command: 'git remote -v', description: 'Show where the repository comes from' }, () => bash('git remote -v'));
  }

  if (/\bfail/i.test(prompt)) {
    await say('The request asks me to fail, so I am stopping here without changing anything.');
    finish(false, 'The demo agent was asked to fail, so it stopped without changing anything.');
    return;
  }

  if (prompt.endsWith('?')) {
    await answer(files);
    return;
  }

  const file = targetFile(prompt);
  if (file) {
    const path = join(cwd, file);
    if (isFile(path)) {
      const text = addition(file);
      await tool('Edit', { file_path: path, old_string: '', new_string: text }, () => {
        appendFileSync(path, (readFileSync(path, 'utf8').endsWith('\n') ? '' : '\n') + text);
        return `The file ${path} has been updated.`;
      });
      await say(`I added the request to \`${file}\`.`);
      finish(true, `Updated ${file}: added "${prompt}".`);
    } else {
      const content = contentFor(file, repoFiles());
      await tool('Write', { file_path: path, content }, () => {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, content);
        return `File created successfully at: ${path}`;
      });
      const lines = content.split('\n').length - 1;
      await say(`I created \`${file}\` (${lines} lines).`);
      finish(true, `Created ${file} (${lines} lines) for: ${prompt}`);
    }
    return;
  }

  if (QUESTION.test(prompt)) {
    await answer(files);
    return;
  }

  const notes = join(cwd, 'NOTES.md');
  const entry = `- ${prompt}\n`;
  const existed = existsSync(notes);
  await tool('Write', { file_path: notes, content: existed ? entry : `# Notes\n\n${entry}` }, () => {
    if (existed) appendFileSync(notes, entry);
    else writeFileSync(notes, `# Notes\n\n${entry}`);
    return existed ? `The file ${notes} has been updated.` : `File created successfully at: ${notes}`;
  });
  await say('I wrote the request down in `NOTES.md`.');
  finish(true, `Added the request to NOTES.md: ${prompt}`);
}

main().catch((err) => {
  process.stderr.write(`demo agent crashed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 2;
});
