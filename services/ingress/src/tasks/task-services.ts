import type { Config, GitHubApp, LocalForge, TaskStore, TranscriptArchive } from '@agentq/shared';
import type { TaskCanceler } from './task-canceler.js';
import type { TaskIntake } from './task-intake.js';

/** What every way into the task API (HTTP routes, Slack) works with. */
export interface TaskServices {
  config: Config;
  store: TaskStore;
  archive: TranscriptArchive;
  forge: LocalForge;
  /** The GitHub App, when configured (admits the repositories it is installed on). */
  github?: Pick<GitHubApp, 'admit'>;
  intake: TaskIntake;
  canceler: TaskCanceler;
}
