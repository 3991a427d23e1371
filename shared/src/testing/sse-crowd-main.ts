/*
 * A crowd of SSE clients in a process of its own (each socket is a file descriptor, and a
 * process has a limit of them): opens `count` streams of the given URLs round-robin over raw
 * sockets, then answers commands on stdin, one JSON line each:
 *   {"expect": "<text>"}  → {"seen": <streams whose data contains the text>} once all have it or after 60 s
 *   {"close": true}       → closes every socket and exits
 * and prints {"opened": <200 answers>, "refused": <others>} once every stream answered.
 */
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

interface CrowdSpec {
  host: string;
  port: number;
  paths: string[];
  count: number;
  headers: Record<string, string>;
  /** Local addresses to connect from, round-robin (all of 127/8 is loopback). */
  from: string[];
}

const spec = JSON.parse(process.argv[2] ?? '{}') as CrowdSpec;
const sockets: { socket: Socket; tail: string; status: number }[] = [];
const print = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);

let answered = 0;
const BATCH = 200;
for (let i = 0; i < spec.count; i += BATCH) {
  await Promise.all(
    Array.from({ length: Math.min(BATCH, spec.count - i) }, (_, j) => {
      const n = i + j;
      const path = spec.paths[n % spec.paths.length] ?? '/';
      const localAddress = spec.from[n % spec.from.length];
      return new Promise<void>((resolve) => {
        const entry = { socket: connect({ host: spec.host, port: spec.port, localAddress }), tail: '', status: 0 };
        sockets.push(entry);
        entry.socket.setEncoding('utf8');
        const head = Object.entries(spec.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        entry.socket.write(`GET ${path} HTTP/1.1\r\nhost: ${spec.host}\r\naccept: text/event-stream\r\n${head}\r\n`);
        entry.socket.on('data', (chunk: string) => {
          if (entry.status === 0) {
            entry.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(chunk)?.[1] ?? -1);
            answered++;
            resolve();
          }
          entry.tail = (entry.tail + chunk).slice(-4096);
        });
        entry.socket.on('error', () => {
          if (entry.status === 0) {
            entry.status = -1;
            answered++;
            resolve();
          }
        });
      });
    }),
  );
}
print({ opened: sockets.filter((s) => s.status === 200).length, refused: sockets.filter((s) => s.status !== 200).length, answered });

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as { expect?: string; close?: boolean };
  if (command.close) {
    for (const { socket } of sockets) socket.destroy();
    process.exit(0);
  }
  const text = command.expect ?? '';
  const deadline = Date.now() + 60_000;
  const seen = () => sockets.filter((s) => s.tail.includes(text)).length;
  while (seen() < sockets.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  print({ seen: seen() });
}
