export { startTestRedis, startRedisProcess, type TestRedis, type TestRedisOptions } from './redis.js';
export { freePort } from '../net/free-port.js';
export { waitFor } from './wait.js';
export { makeTempDir, uniquePrefix } from './temp.js';
export { FakeSlack, slackSignatureHeaders, type SlackCall, type FakeSlackMessage, type SlackFailure, type FakeSlackOptions } from './fake-slack.js';
