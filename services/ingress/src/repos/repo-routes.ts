import { isAbsolute } from 'node:path';
import { isAgentqError, repoNameSchema, type LocalForge } from '@agentq/shared';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { principalOf } from '../auth/request-auth.js';
import { fieldProblems } from '../http/field-problems.js';
import { ingressError, invalidRequest } from '../http/ingress-errors.js';

/** Sources git may import from: a path on the ingress host, or a URL of one of these schemes. */
const URL_SCHEMES = ['https:', 'http:', 'ssh:', 'git:', 'file:'];

const sourceSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine((source) => !source.startsWith('-') && !/[\0\r\n]/.test(source), 'must be a path or a git URL')
  .refine((source) => {
    if (isAbsolute(source) || source.startsWith('.') || !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(source)) return true;
    try {
      return URL_SCHEMES.includes(new URL(source).protocol);
    } catch {
      return false;
    }
  }, `must be a path or a ${URL_SCHEMES.map((s) => s.slice(0, -1)).join('/')} URL`);

const addRepoSchema = z.object({ repo: repoNameSchema, source: sourceSchema }).strict();

/**
 * Repositories of the local forge. Importing reads a path on the ingress host or fetches a URL,
 * so only tokens of the `default` team may do it.
 */
export function registerRepoRoutes(app: FastifyInstance, forge: LocalForge): void {
  const importing = new Set<string>();

  app.get('/v1/repos', async (request) => {
    principalOf(request);
    return { repos: await forge.list() };
  });

  app.post('/v1/repos', async (request, reply) => {
    const principal = principalOf(request);
    if (!principal.admin) throw ingressError('INGRESS_FORBIDDEN', 'only tokens of the default team may import repositories');
    const parsed = addRepoSchema.safeParse(request.body);
    if (!parsed.success) throw invalidRequest(fieldProblems(parsed.error));
    const { repo, source } = parsed.data;
    if (importing.has(repo) || forge.has(repo)) throw ingressError('INGRESS_REPO_EXISTS', `repository ${repo} already exists`);
    importing.add(repo);
    try {
      await forge.add(repo, source);
    } catch (err) {
      if (isAgentqError(err) && err.code === 'FORGE_REPO_EXISTS') {
        throw ingressError('INGRESS_REPO_EXISTS', `repository ${repo} already exists`);
      }
      if (isAgentqError(err) && (err.code === 'FORGE_IMPORT_FAILED' || err.code === 'FORGE_BAD_SOURCE')) {
        throw ingressError('INGRESS_REPO_IMPORT_FAILED', err.message);
      }
      throw err;
    } finally {
      importing.delete(repo);
    }
    request.log.info({ repo }, 'repository imported');
    return reply.code(201).send({ repo });
  });
}
