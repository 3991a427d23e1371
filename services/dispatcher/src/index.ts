export { startDispatcher, type Dispatcher, type DispatcherDeps, type WorkerTuning } from './dispatcher.js';
export type {
  SandboxHandle,
  SandboxInheritance,
  SandboxProvider,
  SandboxSpec,
  SandboxStatus,
  OutputLine,
} from './providers/sandbox-provider.js';
export { LocalSandboxProvider } from './providers/local-provider.js';
export { HARNESSES } from './harnesses/registry.js';
