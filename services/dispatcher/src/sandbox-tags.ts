/** The tag every sandbox carries naming its task, to find it again after a crash. */
export const TASK_TAG = 'agentq_task';
/** The tag naming the deployment (its Redis prefix) a sandbox belongs to: the sweeper looks at its own only. */
export const DEPLOYMENT_TAG = 'agentq_deployment';

/** The tags of a task's sandbox. */
export function sandboxTags(taskId: string, deployment: string): Record<string, string> {
  return { [TASK_TAG]: taskId, [DEPLOYMENT_TAG]: deployment };
}
