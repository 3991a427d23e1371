export { startRelay, type Relay, type RelayDeps } from './relay.js';
export { SINK_PENDING, sinkPending, type Sink } from './sinks/sink.js';
export { StorageSink } from './sinks/storage-sink.js';
export { SlackSink, type SlackSinkOptions } from './sinks/slack/slack-sink.js';
export { RELAY_ERRORS, type RelayErrorCode } from './relay-errors.js';
