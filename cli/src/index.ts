export { runCli, buildProgram } from './cli.js';
export { EXIT, exitCodeForState } from './exit-codes.js';
export type { CliIo, OutputStream } from './io.js';
