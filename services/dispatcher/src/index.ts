export { startDispatcher, type Dispatcher, type DispatcherDeps, type WorkerTuning } from './dispatcher.js';
export type {
  SandboxHandle,
  SandboxInheritance,
  SandboxProvider,
  SandboxSpec,
  SandboxStatus,
  OutputLine,
} from './providers/sandbox-provider.js';
export { LocalSandboxProvider } from './providers/local/local-provider.js';
export { HARNESSES } from './harnesses/registry.js';
export { IMAGE_DEMO_AGENT_PATH } from './harnesses/demo.js';
export {
  DISPATCH_ERRORS,
  DispatchError,
  InheritUnavailableError,
  ProviderUnavailableError,
  SandboxExistsError,
  TerminateFailedError,
  dispatchError,
  isDispatchErrorCode,
  type DispatchErrorCode,
} from './dispatch-errors.js';
