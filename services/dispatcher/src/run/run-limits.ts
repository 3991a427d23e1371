import type { Config, TaskRecord } from '@agentq/shared';

/** The limits a run is held to: the task's own, else the service's. */
export interface RunLimits {
  timeoutSec: number;
  maxTurns: number;
  /** No spending limit when undefined. */
  maxCostUsd: number | undefined;
}

export function runLimits(task: Pick<TaskRecord, 'limits'>, config: Pick<Config, 'taskTimeoutSec' | 'maxTurns'>): RunLimits {
  return {
    timeoutSec: task.limits?.timeoutSec ?? config.taskTimeoutSec,
    maxTurns: task.limits?.maxTurns ?? config.maxTurns,
    maxCostUsd: task.limits?.maxCostUsd,
  };
}
