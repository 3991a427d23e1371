export { startTestRedis, startRedisProcess, type TestRedis, type TestRedisOptions } from './redis.js';
export { freePort } from '../net/free-port.js';
export { waitFor } from './wait.js';
export { startTestS3, TEST_S3_KEYS, type TestS3, type TestS3Options } from './s3-server.js';
export { makeTempDir, uniquePrefix } from './temp.js';
export { FakeSlack, slackSignatureHeaders, type SlackCall, type FakeSlackMessage, type SlackFailure, type FakeSlackOptions } from './fake-slack.js';
export { FakeGitHub, generateAppKeyPair, type FakeGitHubOptions, type FakeGitHubCall, type FakeTokenRequest, type FakePull, type FakeComment, type FakeReaction, type FakePermission, type FakeCheckRun, type FakeReview } from './fake-github.js';
export { GitHttpServer, type GitHttpServerOptions } from './git-http-server.js';
export {
  EXAMPLE_LOGIN,
  EXAMPLE_REPO,
  checkRunCompleted,
  checkSuiteCompleted,
  freshNumber,
  issueComment,
  issueLabeled,
  pullRequestClosed,
  pullRequestLabeled,
  pullRequestReview,
  pullRequestSynchronize,
  reviewComment,
  workflowRunCompleted,
  type CheckOptions,
  type CommentOptions,
  type EventPayload,
  type ExamplePayload,
  type PullEventOptions,
  type ReviewOptions,
} from './github-payloads.js';
export { scanErrorCodes, registryGaps, type CodeScan } from './error-codes.js';
export { SseCrowd, type CrowdOptions } from './sse-crowd.js';
export { FakeAnthropic, text, toolUse, workingDirectory, type FakeAnthropicOptions, type FakeBlock, type FakeTurn, type FakeTurnInput, type ScriptedTurn, type FakeError, type RecordedRequest, type Authorize } from './fake-anthropic.js';
export { listenOnLoopback, closeServer } from './loopback-server.js';
export { FakeModelApi, MODEL_API_REQUEST_ID, anthropicMessage, anthropicStream, openAiResponse, openAiStream, type ModelApiCall, type ScriptedAnswer } from './fake-model-api.js';
