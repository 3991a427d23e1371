export { startTestRedis, startRedisProcess, type TestRedis, type TestRedisOptions } from './redis.js';
export { freePort } from '../net/free-port.js';
export { waitFor } from './wait.js';
export { makeTempDir, uniquePrefix } from './temp.js';
export { FakeSlack, slackSignatureHeaders, type SlackCall, type FakeSlackMessage, type SlackFailure, type FakeSlackOptions } from './fake-slack.js';
export { FakeGitHub, generateAppKeyPair, type FakeGitHubOptions, type FakeGitHubCall, type FakeTokenRequest, type FakePull, type FakeComment, type FakeReaction, type FakePermission } from './fake-github.js';
export { GitHttpServer, type GitHttpServerOptions } from './git-http-server.js';
export { EXAMPLE_LOGIN, EXAMPLE_REPO, freshNumber, issueComment, issueLabeled, reviewComment, type CommentOptions, type ExamplePayload } from './github-payloads.js';
export { scanErrorCodes, registryGaps, type CodeScan } from './error-codes.js';
