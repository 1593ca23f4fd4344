#!/usr/bin/env node
// The `swarmpath` command. Runs cli/main.ts on a recent enough Node (see run-node.js): in this
// process when it is recent, else in a child process on the bundled Node.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { recentNode, runNode } from './run-node.js';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.ts');
if (recentNode() === process.execPath) {
  const { main: run } = await import(pathToFileURL(main).href);
  await run(process.argv.slice(2));
} else {
  runNode([main, ...process.argv.slice(2)]);
}
