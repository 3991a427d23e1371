/** Keys whose value best names what a tool call acts on, in order of preference. */
const SUBJECT_KEYS = ['file_path', 'notebook_path', 'path', 'command', 'cmd', 'pattern', 'url', 'query', 'description', 'prompt', 'skill'];

/**
 * A short form of a tool call's input: the file path, command, pattern or URL it acts on
 * (paths relative to the agent's working directory), else compact JSON.
 */
export function shortToolInput(input: unknown, cwd: string | undefined): string {
  if (input === undefined || input === null) return '';
  if (typeof input === 'string') return input;
  if (typeof input !== 'object') return String(input);
  const record = input as Record<string, unknown>;
  for (const key of SUBJECT_KEYS) {
    const value = record[key];
    if (typeof value === 'string' && value.trim() !== '') {
      return key.endsWith('path') ? relativeTo(value, cwd) : value;
    }
    if (Array.isArray(value) && value.every((v) => typeof v === 'string') && value.length > 0) return value.join(' ');
  }
  if (Array.isArray(record.todos)) return `${record.todos.length} todo${record.todos.length === 1 ? '' : 's'}`;
  const json = JSON.stringify(input);
  return json === '{}' ? '' : json;
}

function relativeTo(path: string, cwd: string | undefined): string {
  if (!cwd) return path;
  const base = cwd.endsWith('/') ? cwd : `${cwd}/`;
  return path.startsWith(base) ? path.slice(base.length) : path;
}
