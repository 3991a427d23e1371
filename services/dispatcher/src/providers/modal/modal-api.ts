import type { ModalReadStream, ModalWriteStream, StdioBehavior } from 'modal';

/**
 * The part of Modal's JS SDK (`modal`, `ModalClient`) the `modal` sandbox provider uses. The real
 * `ModalClient` is assignable to it (`createModalProvider` checks that at compile time); tests give
 * the provider an in-memory double of the same shape.
 */
export interface ModalApi {
  readonly apps: {
    fromName(name: string, params?: { environment?: string; createIfMissing?: boolean }): Promise<ModalApp>;
  };
  readonly images: {
    fromRegistry(tag: string): ModalImage;
  };
  readonly secrets: {
    fromName(name: string, params?: { environment?: string }): Promise<ModalSecret>;
    fromObject(entries: Record<string, string>, params?: { environment?: string }): Promise<ModalSecret>;
  };
  readonly sandboxes: {
    create(app: ModalApp, image: ModalImage, params?: ModalSandboxCreateParams): Promise<ModalSandbox>;
    /** The SDK resolves this lazily: an unknown id may only fail on the first call made with it. */
    fromId(sandboxId: string): Promise<ModalSandbox>;
    /** Running sandboxes only. */
    list(params?: { appId?: string; tags?: Record<string, string>; environment?: string }): AsyncIterable<ModalSandbox>;
  };
  /** Closes the client's connections. */
  close(): void;
}

export interface ModalApp {
  readonly appId: string;
  readonly name?: string;
}

export interface ModalImage {
  /** Builds (pulls) the image in the App; a no-op once it is built. */
  build(app: ModalApp): Promise<ModalImage>;
}

/** A Modal Secret: a named one, or an ephemeral one made from values. */
export interface ModalSecret {
  readonly name?: string;
}

/** The subset of `SandboxCreateParams` the provider sets. */
export interface ModalSandboxCreateParams {
  cpu?: number;
  memoryMiB?: number;
  timeoutMs?: number;
  idleTimeoutMs?: number;
  workdir?: string;
  command?: string[];
  env?: Record<string, string>;
  secrets?: ModalSecret[];
  outboundDomainAllowlist?: string[];
  /** Unique among the running sandboxes of the App. */
  name?: string;
  tags?: Record<string, string>;
}

/** The subset of `SandboxExecParams` the provider sets (text mode). */
export interface ModalExecParams {
  mode?: 'text';
  stdout?: StdioBehavior;
  stderr?: StdioBehavior;
  workdir?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

export interface ModalSandbox {
  readonly sandboxId: string;
  exec(command: string[], params?: ModalExecParams): Promise<ModalProcess>;
  /** Null while the sandbox runs, else its exit code (137 once terminated, 124 past its timeout). */
  poll(): Promise<number | null>;
  terminate(): Promise<void>;
  getTags(): Promise<Record<string, string>>;
}

/** A process started with `exec` (the SDK's `ContainerProcess<string>`). */
export interface ModalProcess {
  stdin: ModalWriteStream<string>;
  stdout: ModalReadStream<string>;
  stderr: ModalReadStream<string>;
  wait(): Promise<number>;
}
