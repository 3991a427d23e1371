import { createReadStream } from 'node:fs';
import { constants } from 'node:fs';
import { access, appendFile, mkdir, open, readFile, rename, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AgentEvent } from '../events/agent-event.js';
import { isTaskId } from '../ids.js';
import type { TaskRecord } from '../tasks/task-record.js';
import { eventsAfter, toJsonl } from './jsonl.js';
import type { TranscriptArchive } from './transcript-archive.js';

/**
 * Transcripts on the filesystem: `<root>/<taskId>/events.jsonl` (one event per line, seq
 * ascending) and `<root>/<taskId>/task.json` (the final record).
 */
export class FsTranscriptArchive implements TranscriptArchive {
  private readonly known = new Map<string, number>();

  constructor(readonly root: string) {}

  get location(): string {
    return `file://${this.root}`;
  }

  static forDataDir(dataDir: string): FsTranscriptArchive {
    return new FsTranscriptArchive(join(dataDir, 'transcripts'));
  }

  private dir(taskId: string): string {
    if (!isTaskId(taskId)) throw new Error(`invalid task id ${JSON.stringify(taskId)}`);
    return join(this.root, taskId);
  }

  eventsPath(taskId: string): string {
    return join(this.dir(taskId), 'events.jsonl');
  }

  taskPath(taskId: string): string {
    return join(this.dir(taskId), 'task.json');
  }

  /** Last seq on disk; a torn last line (crash mid-write) is cut off first. */
  async lastSeq(taskId: string): Promise<number> {
    const cached = this.known.get(taskId);
    if (cached !== undefined) return cached;
    const path = this.eventsPath(taskId);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.known.set(taskId, 0);
        return 0;
      }
      throw err;
    }
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length) await truncate(path, Buffer.byteLength(text.slice(0, end)));
    const lines = text.slice(0, end).split('\n').filter((l) => l.length > 0);
    const last = lines.length > 0 ? (JSON.parse(lines[lines.length - 1] as string) as AgentEvent).seq : 0;
    this.known.set(taskId, last);
    return last;
  }

  /** The directory exists (it is created) and can be written. */
  async check(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, constants.W_OK);
  }

  forget(taskId: string): void {
    this.known.delete(taskId);
  }

  async append(taskId: string, events: AgentEvent[]): Promise<number> {
    const fresh = eventsAfter(events, await this.lastSeq(taskId));
    const last = fresh[fresh.length - 1]?.seq;
    if (last === undefined) return 0;
    await mkdir(this.dir(taskId), { recursive: true });
    await appendFile(this.eventsPath(taskId), toJsonl(fresh));
    this.known.set(taskId, last);
    return fresh.length;
  }

  async readEvents(taskId: string, afterSeq = 0): Promise<AgentEvent[]> {
    const out: AgentEvent[] = [];
    let handle;
    try {
      handle = await open(this.eventsPath(taskId), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw err;
    }
    await handle.close();
    const lines = createInterface({ input: createReadStream(this.eventsPath(taskId)), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.length === 0) continue;
      try {
        const event = JSON.parse(line) as AgentEvent;
        if (event.seq > afterSeq) out.push(event);
      } catch {
        // a torn last line from a crash; the writer cuts it off on its next start
      }
    }
    return out;
  }

  async writeTask(task: TaskRecord): Promise<void> {
    await mkdir(this.dir(task.id), { recursive: true });
    const tmp = `${this.taskPath(task.id)}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(task, null, 2)}\n`);
    await rename(tmp, this.taskPath(task.id));
  }

  async readTask(taskId: string): Promise<TaskRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.taskPath(taskId), 'utf8')) as TaskRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}
