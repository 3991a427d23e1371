export { startRelay, type Relay, type RelayDeps } from './relay.js';
export { sinkPending, type Sink } from './sinks/sink.js';
export { StorageSink } from './sinks/storage-sink.js';
export { SlackSink, type SlackSinkOptions } from './sinks/slack/slack-sink.js';
export { RELAY_ERRORS, RelayError, SinkPendingError, type RelayErrorCode } from './relay-errors.js';
