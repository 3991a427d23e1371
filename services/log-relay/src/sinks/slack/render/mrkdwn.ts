import type { SlackBlock, SlackMessage, TextObject } from './blocks.js';

/** Slack's limits on a message (https://docs.slack.dev/reference/methods/chat.postMessage). */
export const SLACK_LIMITS = {
  text: 40_000,
  blocks: 50,
  sectionText: 3000,
  contextText: 3000,
  headerText: 150,
  buttonText: 75,
} as const;

export const ELLIPSIS = '…';

/** Escapes the three characters Slack's mrkdwn gives meaning to: `&`, `<`, `>`. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Cuts `text` to at most `max` characters, ending with an ellipsis when cut. Never splits a
 * surrogate pair, nor an entity written by `escapeMrkdwn` (`&amp;`, `&lt;`, `&gt;`).
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - ELLIPSIS.length);
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  const amp = text.lastIndexOf('&', end - 1);
  if (amp >= 0 && amp > end - 5 && !text.slice(amp, end).includes(';')) {
    const entity = /^&(amp|lt|gt);/.exec(text.slice(amp));
    if (entity && amp + entity[0].length > end) end = amp;
  }
  return `${text.slice(0, end)}${ELLIPSIS}`;
}

/** Text from a user or an agent, made safe for mrkdwn and cut to `max` characters. */
export function userText(text: string, max: number): string {
  return truncate(escapeMrkdwn(text), max);
}

/** One line of user text (newlines folded), for short fields such as the prompt in a status. */
export function oneLine(text: string, max: number): string {
  return userText(text.replace(/\s+/g, ' ').trim(), max);
}

/**
 * Markdown as agents write it, turned into Slack mrkdwn where the two differ most (bold, headings),
 * escaped, and cut to `max` characters.
 */
export function agentMarkdown(text: string, max: number): string {
  const converted = escapeMrkdwn(text)
    .replace(/\*\*(\S(?:[^*]*\S)?)\*\*/g, '*$1*')
    .replace(/^#{1,6}\s+(.+)$/gm, '*$1*');
  return truncate(converted, max);
}

/** Inline code with the backtick of Slack mrkdwn (text escaped; backticks inside removed). */
export function code(text: string, max = 200): string {
  return `\`${userText(text.replace(/`/g, "'"), max)}\``;
}

/** A mrkdwn link; `label` is escaped, the URL kept as given (with `|`, `<`, `>` encoded). */
export function link(url: string, label: string): string {
  const safeUrl = url.replace(/\|/g, '%7C').replace(/</g, '%3C').replace(/>/g, '%3E');
  return `<${safeUrl}|${escapeMrkdwn(label)}>`;
}

function fitText<T extends TextObject>(object: T, max: number): T {
  return object.text.length <= max ? object : { ...object, text: truncate(object.text, max) };
}

function fitBlock(block: SlackBlock): SlackBlock {
  switch (block.type) {
    case 'section':
      return { ...block, text: fitText(block.text, SLACK_LIMITS.sectionText) };
    case 'header':
      return { ...block, text: fitText(block.text, SLACK_LIMITS.headerText) };
    case 'context':
      return { ...block, elements: block.elements.slice(0, 10).map((e) => fitText(e, SLACK_LIMITS.contextText)) };
    case 'actions':
      return { ...block, elements: block.elements.slice(0, 25).map((e) => ({ ...e, text: fitText(e.text, SLACK_LIMITS.buttonText) })) };
    default:
      return block;
  }
}

/**
 * The message within Slack's limits, whatever went into it: text cut to 40,000 characters, at most
 * 50 blocks, section and context texts cut to 3,000 characters, header texts to 150.
 */
export function fitMessage(message: SlackMessage): SlackMessage {
  let blocks = message.blocks.map(fitBlock);
  if (blocks.length > SLACK_LIMITS.blocks) {
    blocks = [...blocks.slice(0, SLACK_LIMITS.blocks - 1), { type: 'context', elements: [{ type: 'mrkdwn', text: ELLIPSIS }] }];
  }
  return { text: truncate(message.text, SLACK_LIMITS.text), blocks };
}
