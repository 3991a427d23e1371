/**
 * Control characters refused in text agentq passes on (prompts, refs, metadata): C0 but tab,
 * line feed and carriage return; DEL; and C1 (U+0080–U+009F: invisible, and some terminals read
 * U+009B as the start of an escape sequence). NUL in particular cannot reach a process argument.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/u;

/** The first refused control character of `text` as `U+XXXX`, or undefined when there is none. */
export function controlCharacterIn(text: string): string | undefined {
  const match = CONTROL.exec(text);
  if (!match) return undefined;
  return `U+${match[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Keys that name an object's prototype machinery: refused as keys of user-given maps. */
export const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
