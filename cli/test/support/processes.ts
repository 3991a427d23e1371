import { spawn } from 'node:child_process';
import { connect } from 'node:net';

/** Sends one inline command to a Redis on 127.0.0.1 (after `AUTH`, given a password) and answers the first reply line, or a bulk value. */
export function redisCommand(port: number, command: string, password?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    socket.setTimeout(3000, () => {
      socket.destroy();
      reject(new Error('redis did not answer'));
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(`${password === undefined ? '' : `AUTH ${password}\r\n`}${command}\r\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8');
      const all = data.split('\r\n');
      // the AUTH reply comes first
      if (password !== undefined && all.length < 2) return;
      const lines = password === undefined ? all : all.slice(1);
      const first = lines[0] ?? '';
      // bulk replies come as "$<len>" then the value
      if (first.startsWith('$') && first !== '$-1' && lines.length < 3) return;
      if (lines.length < 2) return;
      socket.destroy();
      resolve(first.startsWith('$') && first !== '$-1' ? (lines[1] ?? '') : first);
    });
  });
}

/** Starts `sh -c script` as the leader of a new process group; answers its pid (= pgid). */
export function spawnGroup(script: string): number {
  const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  child.unref();
  if (child.pid === undefined) throw new Error('spawn failed');
  return child.pid;
}
