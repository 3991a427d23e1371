import { fileURLToPath } from 'node:url';
import { AgentqError, REPO_CONFIG_INVALID, parseRepoConfig } from '@agentq/shared';
import { registryGaps, scanErrorCodes } from '@agentq/shared/testing';
import { describe, expect, it } from 'vitest';
import {
  DISPATCH_ERRORS,
  DispatchError,
  InheritUnavailableError,
  ProviderUnavailableError,
  SandboxExistsError,
  TerminateFailedError,
  dispatchError,
  isDispatchErrorCode,
  taskErrorOf,
  type DispatchErrorCode,
} from '../src/dispatch-errors.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Where dispatcher codes are written: the dispatcher's sources, and shared (which cannot import the registry). */
const SOURCES = ['services/dispatcher/src', 'shared/src'];

describe('dispatcher error codes', () => {
  it('are all in the registry, and every code of the registry is used', async () => {
    const scan = await scanErrorCodes({ root: ROOT, dirs: SOURCES, prefix: 'DISPATCH', ignore: ['DISPATCH_ERRORS'] });
    // the dispatcher makes its errors through the registry (typed), never from a free string
    const untyped = scan.files.filter(({ file, text }) => file.startsWith('services/') && /new AgentqError\(\s*['"]DISPATCH_/.test(text)).map(({ file }) => file);
    const { unknown, unused } = registryGaps(DISPATCH_ERRORS, scan);
    expect(unknown).toEqual([]);
    expect(untyped).toEqual([]);
    expect(unused).toEqual([]);
    expect(scan.used.size).toBeGreaterThan(20);
  });

  it('include the code shared gives an invalid `.agentq.yml`', () => {
    expect(isDispatchErrorCode(REPO_CONFIG_INVALID)).toBe(true);
    let thrown: unknown;
    try {
      parseRepoConfig('setup: [1]', '.agentq.yml');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AgentqError);
    expect(taskErrorOf(thrown).code).toBe('DISPATCH_REPO_CONFIG_INVALID');
  });

  it('make errors of the class of their kind, with the same codes', () => {
    const kinds: [DispatchErrorCode, new (message: string) => DispatchError][] = [
      ['DISPATCH_PROVIDER_UNAVAILABLE', ProviderUnavailableError],
      ['DISPATCH_SANDBOX_EXISTS', SandboxExistsError],
      ['DISPATCH_INHERIT_UNAVAILABLE', InheritUnavailableError],
      ['DISPATCH_TERMINATE_FAILED', TerminateFailedError],
    ];
    for (const [code, Kind] of kinds) {
      const made = dispatchError(code, 'it happened', { cause: new Error('below') });
      expect(made).toBeInstanceOf(Kind);
      expect(made).toBeInstanceOf(AgentqError);
      expect(made.code).toBe(code);
      expect(made.name).toBe(Kind.name);
      expect(made.toJSON()).toEqual({ code, message: 'it happened' });
      expect((made.cause as Error).message).toBe('below');
      expect(new Kind('direct').code).toBe(code);
    }
    const plain = dispatchError('DISPATCH_SANDBOX_FAILED', 'no');
    expect(plain).toBeInstanceOf(DispatchError);
    for (const [, Kind] of kinds) expect(plain).not.toBeInstanceOf(Kind);
    expect(plain.status).toBe(500);
  });

  it('give every failure a task error of the registry', () => {
    expect(taskErrorOf(dispatchError('DISPATCH_IMAGE_NOT_FOUND', 'no such image'))).toEqual({ code: 'DISPATCH_IMAGE_NOT_FOUND', message: 'no such image' });
    // an error with a code of no registry of the dispatcher's, or none: internal, its code kept in the message
    expect(taskErrorOf(new AgentqError('GIT_FAILED', 'git rev-parse failed'))).toEqual({ code: 'DISPATCH_INTERNAL', message: 'GIT_FAILED: git rev-parse failed' });
    expect(taskErrorOf(new Error('boom'))).toEqual({ code: 'DISPATCH_INTERNAL', message: 'boom' });
    expect(taskErrorOf('thrown text')).toEqual({ code: 'DISPATCH_INTERNAL', message: 'thrown text' });
  });
});
