import { LuaScript, type RedisKeys } from '@agentq/shared';
import type { Redis } from 'ioredis';
import { redisCall } from '../../http/redis-call.js';

/** How long a pull request's attempts, latest task and automatic follow-ups are remembered after the last change. */
const PULL_MEMORY_SEC = 30 * 24 * 3600;

/**
 * Takes one attempt below the cap: returns `[1, attempt]`, or at the cap `[0, attempts, first]`
 * where `first` is 1 only the first time the cap is met since the last reset (agentq says it
 * stopped once).
 */
const TAKE_ATTEMPT = new LuaScript(`
local used = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if used >= tonumber(ARGV[1]) then
  local first = redis.call('HSETNX', KEYS[1], 'stopped', '1')
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {0, used, first}
end
used = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {1, used, 0}
`);

/** Gives back an attempt taken for a follow-up that could not be queued. */
const GIVE_BACK = new LuaScript(`
local used = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if used > 0 then redis.call('HINCRBY', KEYS[1], 'attempts', -1) end
return used
`);

export type AttemptTaken = { taken: true; attempt: number } | { taken: false; attempts: number; firstStop: boolean };

/**
 * What agentq remembers of its pull requests' automatic follow-ups, in Redis: the attempts since
 * a person last pushed or commented, the causes already followed up (a commit's checks, a
 * review), the latest task of each pull request and its automatic follow-ups.
 */
export class AutofixLedger {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly causeTtlSec: number,
  ) {}

  /** Claims a cause (`ci:<sha>`, `review:<id>`) for one follow-up; false when it was claimed already. */
  async claimCause(repo: string, pull: number, cause: string): Promise<boolean> {
    const set = await redisCall(() => this.redis.set(this.keys.githubAutofixCause(repo, pull, cause), '1', 'EX', this.causeTtlSec, 'NX'));
    return set === 'OK';
  }

  async releaseCause(repo: string, pull: number, cause: string): Promise<void> {
    await redisCall(() => this.redis.del(this.keys.githubAutofixCause(repo, pull, cause)));
  }

  async takeAttempt(repo: string, pull: number, cap: number): Promise<AttemptTaken> {
    const raw = (await redisCall(() => TAKE_ATTEMPT.run(this.redis, [this.keys.githubAutofix(repo, pull)], [cap, PULL_MEMORY_SEC]))) as number[];
    const [taken = 0, used = 0, first = 0] = raw.map(Number);
    return taken === 1 ? { taken: true, attempt: used } : { taken: false, attempts: used, firstStop: first === 1 };
  }

  async giveBackAttempt(repo: string, pull: number): Promise<void> {
    await redisCall(() => GIVE_BACK.run(this.redis, [this.keys.githubAutofix(repo, pull)], []));
  }

  /** A person pushed or commented: the attempts (and the stop notice) start again. */
  async reset(repo: string, pull: number): Promise<void> {
    await redisCall(() => this.redis.hdel(this.keys.githubAutofix(repo, pull), 'attempts', 'stopped'));
  }

  /** The latest task created for the pull request, else the one that opened it. */
  async latestTask(repo: string, pull: number): Promise<string | undefined> {
    const [latest, opener] = await redisCall(() => this.redis.mget(this.keys.githubPullLatest(repo, pull), this.keys.githubPull(repo, pull)));
    return latest ?? opener ?? undefined;
  }

  /** Records a task created for the pull request (an automatic follow-up is also remembered as one). */
  async recordTask(repo: string, pull: number, taskId: string, automatic: boolean): Promise<void> {
    await redisCall(async () => {
      const multi = this.redis.multi().set(this.keys.githubPullLatest(repo, pull), taskId, 'EX', PULL_MEMORY_SEC);
      if (automatic) multi.sadd(this.keys.githubAutofixTasks(repo, pull), taskId).expire(this.keys.githubAutofixTasks(repo, pull), PULL_MEMORY_SEC);
      await multi.exec();
    });
  }

  async automaticTasks(repo: string, pull: number): Promise<string[]> {
    return redisCall(() => this.redis.smembers(this.keys.githubAutofixTasks(repo, pull)));
  }
}
