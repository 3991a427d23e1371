import { waitingText, type AgentEvent, type WaitingInfo } from '@agentq/shared';
import type { OutputStream } from '../io.js';
import { renderEvent, STEP_TEXT, type Tone } from './event-line.js';
import { formatClock, formatCost, oneLine } from './format.js';
import type { Style } from './style.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const PLAIN_WIDTH = 160;

export interface ProgressViewOptions {
  /** Keep a status line at the bottom, redrawn in place (terminals only). */
  live: boolean;
  style: Style;
  now?: () => number;
}

/**
 * Shows a task's progress: one line per interesting event (elapsed time, label, text) and, on a
 * terminal, a status line kept at the bottom with the state, step, elapsed time and tool calls.
 */
export class ProgressView {
  private readonly now: () => number;
  private startedAt: number | undefined;
  /** Timestamp of the latest event: elapsed time never shows less than it (clocks may differ). */
  private latestAt = 0;
  private cwd: string | undefined;
  private state = 'connecting';
  private step: string | undefined;
  /** Why the task waits, while it is queued. */
  private waiting: WaitingInfo | undefined;
  private toolCalls = 0;
  private lastTool: string | undefined;
  /** The running cost the model gateway metered (from `agent.usage`). */
  private costUsd: number | undefined;
  private frame = 0;
  private statusShown = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: OutputStream,
    private readonly options: ProgressViewOptions,
  ) {
    this.now = options.now ?? Date.now;
    if (options.live) {
      this.timer = setInterval(() => {
        this.frame = (this.frame + 1) % SPINNER.length;
        this.drawStatus();
      }, 120);
      this.timer.unref();
    }
  }

  /** Elapsed times count from here (the task's creation time). */
  setStart(iso: string | undefined): void {
    const ms = iso ? Date.parse(iso) : NaN;
    if (!Number.isNaN(ms) && this.startedAt === undefined) this.startedAt = ms;
  }

  event(event: AgentEvent): void {
    this.setStart(event.ts);
    const at = Date.parse(event.ts);
    if (!Number.isNaN(at)) this.latestAt = Math.max(this.latestAt, at);
    switch (event.kind) {
      case 'task.state':
        this.state = event.state;
        if (event.state !== 'running') this.step = undefined;
        if (event.state !== 'queued') this.waiting = undefined;
        break;
      case 'task.waiting':
        this.waiting = event;
        break;
      case 'step':
        this.step = STEP_TEXT[event.step] ?? event.step;
        break;
      case 'agent.init':
        this.cwd = event.cwd;
        break;
      case 'agent.tool_call':
        this.toolCalls += 1;
        this.lastTool = event.name;
        break;
      case 'agent.usage':
        if (event.costUsd !== undefined) this.costUsd = event.costUsd;
        break;
      default:
        break;
    }
    const line = renderEvent(event, this.cwd);
    if (!line) {
      this.drawStatus();
      return;
    }
    const elapsed = this.startedAt === undefined || Number.isNaN(at) ? '' : formatClock(at - this.startedAt);
    const prefix = `${elapsed.padStart(7)}  ${line.label.padEnd(6)} `;
    const text = oneLine(line.text, Math.max(20, this.width() - prefix.length));
    this.print(`${this.options.style.dim(prefix)}${this.tone(line.tone, text)}`);
  }

  /** A line of its own (connection notices). */
  notice(text: string): void {
    this.print(this.options.style.yellow(text));
  }

  /** Removes the status line and stops redrawing it. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clearStatus();
  }

  private print(line: string): void {
    this.clearStatus();
    this.out.write(`${line}\n`);
    this.drawStatus();
  }

  private width(): number {
    return this.options.live && this.out.columns ? this.out.columns : PLAIN_WIDTH;
  }

  private statusText(): string {
    const parts = [this.state];
    if (this.waiting && this.state === 'queued') parts.push(waitingText(this.waiting));
    if (this.step && this.state === 'running') parts.push(this.step);
    if (this.startedAt !== undefined) parts.push(formatClock(Math.max(this.now(), this.latestAt) - this.startedAt));
    if (this.toolCalls > 0) parts.push(`${this.toolCalls} tool call${this.toolCalls === 1 ? '' : 's'}${this.lastTool ? ` (last: ${this.lastTool})` : ''}`);
    if (this.costUsd !== undefined) parts.push(`${formatCost(this.costUsd)} so far`);
    return `${SPINNER[this.frame]} ${parts.join(' · ')}`;
  }

  private drawStatus(): void {
    if (!this.options.live || !this.timer) return;
    const text = oneLine(this.statusText(), this.width() - 1);
    this.out.write(`\r\x1b[2K${this.options.style.cyan(text)}`);
    this.statusShown = true;
  }

  private clearStatus(): void {
    if (!this.statusShown) return;
    this.out.write('\r\x1b[2K');
    this.statusShown = false;
  }

  private tone(tone: Tone, text: string): string {
    const s = this.options.style;
    switch (tone) {
      case 'good':
        return s.green(text);
      case 'bad':
        return s.red(text);
      case 'dim':
        return s.dim(text);
      case 'accent':
        return s.cyan(text);
      default:
        return text;
    }
  }
}
