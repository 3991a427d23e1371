/** The Block Kit shapes the Slack sink renders (a subset of Slack's). */

export interface TextObject {
  type: 'mrkdwn' | 'plain_text';
  text: string;
  emoji?: boolean;
}

export interface ButtonElement {
  type: 'button';
  action_id: string;
  text: TextObject & { type: 'plain_text' };
  value: string;
  style?: 'primary' | 'danger';
  confirm?: {
    title: TextObject & { type: 'plain_text' };
    text: TextObject;
    confirm: TextObject & { type: 'plain_text' };
    deny: TextObject & { type: 'plain_text' };
  };
}

export type SlackBlock =
  | { type: 'section'; block_id?: string; text: TextObject }
  | { type: 'header'; block_id?: string; text: TextObject & { type: 'plain_text' } }
  | { type: 'context'; block_id?: string; elements: TextObject[] }
  | { type: 'actions'; block_id?: string; elements: ButtonElement[] }
  | { type: 'divider'; block_id?: string };

/** A message before it is sent: notification text and blocks. */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

export function section(text: string): SlackBlock {
  return { type: 'section', text: { type: 'mrkdwn', text } };
}

export function context(...texts: string[]): SlackBlock {
  return { type: 'context', elements: texts.map((text) => ({ type: 'mrkdwn' as const, text })) };
}

export function header(text: string): SlackBlock {
  return { type: 'header', text: { type: 'plain_text', text, emoji: true } };
}
