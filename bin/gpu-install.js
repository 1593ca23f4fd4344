#!/usr/bin/env node
// Installs onnxruntime's CUDA execution provider for swarmpath (cli/commands/gpu-install.ts), on a
// recent enough Node (see run-node.js). Opt-in on GPU machines; `npm ci` never runs it.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { recentNode, runNode } from './run-node.js';

const entry = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'commands', 'gpu-install.ts');
if (recentNode() === process.execPath) {
  const { main } = await import(pathToFileURL(entry).href);
  process.exitCode = await main(process.argv.slice(2));
} else {
  runNode([entry, ...process.argv.slice(2)]);
}
