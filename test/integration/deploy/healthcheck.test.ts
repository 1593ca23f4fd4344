/**
 * deploy/healthcheck.ts, the image's HEALTHCHECK: exit 0 when the URL answers 2xx (http) or accepts
 * a connection (tcp), 1 otherwise, within its timeout; the URL comes from the argument, else
 * HEALTHCHECK_URL.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { healthy } from '../../../deploy/healthcheck.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../..');
let http: Server;
let tcp: TcpServer;
let base: string;
let tcpPort: number;
/** A port nothing listens on: a server's, after it closed. */
let closedPort: number;

beforeAll(async () => {
  http = createServer((req, res) => {
    if (req.url === '/healthz') res.writeHead(200).end('ok\n');
    else if (req.url === '/readyz') res.writeHead(503).end('not ready\n');
    else if (req.url === '/hang') { /* never answers */ }
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  tcp = createTcpServer((s) => s.end());
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  tcpPort = (tcp.address() as AddressInfo).port;
  const gone = createTcpServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
  closedPort = (gone.address() as AddressInfo).port;
  await new Promise<void>((r) => gone.close(() => r()));
});

afterAll(async () => {
  http.closeAllConnections();
  await new Promise<void>((r) => http.close(() => r()));
  await new Promise<void>((r) => tcp.close(() => r()));
});

describe('deploy/healthcheck.ts', () => {
  it('http: 2xx is healthy; 5xx, 404, a closed port, a hang past the timeout are not', async () => {
    assert.equal(await healthy(`${base}/healthz`), true);
    assert.equal(await healthy(`${base}/readyz`), false);
    assert.equal(await healthy(`${base}/nothing`), false);
    assert.equal(await healthy(`http://127.0.0.1:${closedPort}/healthz`), false);
    assert.equal(await healthy(`${base}/hang`, 300), false);
  });

  it('tcp: an accepted connection is healthy, a closed port is not; other schemes and bad URLs are not', async () => {
    assert.equal(await healthy(`tcp://127.0.0.1:${tcpPort}`), true);
    assert.equal(await healthy(`tcp://127.0.0.1:${closedPort}`), false);
    assert.equal(await healthy('tcp://127.0.0.1'), false);
    assert.equal(await healthy(`ftp://127.0.0.1:${tcpPort}`), false);
    assert.equal(await healthy('not a url'), false);
  });

  it('as a command: exit 0 or 1, the URL from the argument or HEALTHCHECK_URL', async () => {
    const script = join(ROOT, 'deploy', 'healthcheck.ts');
    const exit = (args: string[], env: Record<string, string>) =>
      run(process.execPath, [script, ...args], { env: { ...process.env, ...env }, timeout: 20_000 }).then(() => 0, (e: { code: number }) => e.code);
    assert.equal(await exit([`${base}/healthz`], {}), 0);
    assert.equal(await exit([`${base}/readyz`], {}), 1);
    assert.equal(await exit([], { HEALTHCHECK_URL: `tcp://127.0.0.1:${tcpPort}` }), 0);
    assert.equal(await exit([], { HEALTHCHECK_URL: `tcp://127.0.0.1:${closedPort}` }), 1);
  });
});
