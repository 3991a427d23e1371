import { SupervisorWatch } from './supervisor-watch.js';

/**
 * This process's one supervisor watch, started when this module is evaluated. A service's main
 * imports it (`@agentq/shared/supervisor`) before anything else, so that a supervisor gone while
 * the heavier modules load ends the process; it imports nothing but the watch.
 */
export const supervisor = new SupervisorWatch(process).start();
