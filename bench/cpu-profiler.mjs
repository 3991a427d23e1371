/*
 * `--import` this file (NODE_OPTIONS does not take `--cpu-prof`) to profile a process like
 * `node --cpu-prof` does, but only from the moment it receives SIGUSR2 (the benchmark sends it
 * after the warm-up, so start-up and module loading stay out of the profile). The profile is
 * written to `$BENCH_CPU_PROF/<$BENCH_CPU_PROF_NAME>-<pid>.cpuprofile` when the process exits
 * (`process.exit` or an empty event loop, not death by a signal).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF;
if (dir) {
  const session = new Session();
  session.connect();
  let started = false;
  process.on('SIGUSR2', () => {
    if (started) return;
    started = true;
    session.post('Profiler.enable');
    session.post('Profiler.start');
  });
  process.once('exit', () => {
    if (!started) return;
    // the in-process session answers synchronously
    session.post('Profiler.stop', (err, result) => {
      if (err || !result) return;
      const name = process.env.BENCH_CPU_PROF_NAME ?? 'node';
      writeFileSync(join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
