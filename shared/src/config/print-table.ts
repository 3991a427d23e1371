import { configTable } from './config-table.js';

process.stdout.write(`${configTable()}\n`);
