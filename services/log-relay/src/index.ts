export { startRelay, type Relay, type RelayDeps } from './relay.js';
export type { Sink } from './sinks/sink.js';
export { StorageSink } from './sinks/storage-sink.js';
