/**
 * Keys at the router's edge, as real router processes (no hosts needed: only /v1/models and
 * /healthz are called): a router bound to a non-loopback address without keys says so in its log;
 * with --api-key-file it accepts every key of the file, refuses requests without one, and does not
 * warn. Stalled requests on a listening router are answered 408 after --headers-timeout-s.
 */
import { describe, it, afterEach } from 'vitest';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSwarmpath, type SwarmpathChild } from '../../../router/supervisor/swarmpath-child.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const children: SwarmpathChild[] = [];
afterEach(async () => { await Promise.all(children.splice(0).map((c) => c.stop(5000))); });

/** Starts `swarmpath router` on 0.0.0.0 (port 0); resolves its local URL and its log lines so far (and to come). */
async function router(extra: string[], env: NodeJS.ProcessEnv = {}) {
  const logs: string[] = [];
  const child = spawnSwarmpath({
    name: 'router', onLog: (l) => logs.push(l), env: { ...process.env, SWARMPATH_API_KEYS: '', ...env },
    args: ['router', '--model', await synthFixture({}), '--http-listen', '0.0.0.0:0', '--listen', '/ip4/127.0.0.1/tcp/0', ...extra],
  });
  children.push(child);
  const port = new URL((await child.ready).http as string).port;
  // The warning, when there is one, is logged before "router ready" on the same stream.
  await waitFor(() => `"router ready" in the log:\n${logs.join('\n')}`, () => logs.some((l) => l.includes('"msg":"router ready"')), { timeoutMs: 30_000 });
  return { url: `http://127.0.0.1:${port}`, port: Number(port), logs };
}

const WARNING = 'without API keys';

describe('keys at the edge (real router processes)', () => {
  it('warns when bound to a non-loopback address without keys, and answers a stalled request 408', async () => {
    const r = await router(['--headers-timeout-s', '1']);
    const warning = r.logs.find((l) => l.includes(WARNING));
    assert.ok(warning && warning.includes('"level":"warn"') && warning.includes('0.0.0.0'), r.logs.join('\n'));
    assert.equal((await fetch(`${r.url}/v1/models`)).status, 200, 'open without keys');
    // Half a request, then silence: node's headers timeout answers it (here within 1 s plus a check interval).
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(r.port, '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
      let got = '';
      s.on('data', (d) => { got += d; });
      s.on('close', () => resolve(got));
    });
    assert.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.equal(JSON.parse(answer.split('\r\n\r\n')[1]).error.type, 'invalid_request_error');
  });

  it('takes its keys from --api-key-file, then does not warn', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarmpath-keyfile-'));
    try {
      const file = join(dir, 'keys');
      await writeFile(file, '# the team\nsk-one\n\nsk-two\n', { mode: 0o600 });
      const r = await router(['--api-key-file', file]);
      assert.ok(!r.logs.some((l) => l.includes(WARNING)), r.logs.join('\n'));
      assert.equal((await fetch(`${r.url}/v1/models`)).status, 401);
      for (const key of ['sk-one', 'sk-two']) {
        assert.equal((await fetch(`${r.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status, 200, key);
      }
      assert.equal((await fetch(`${r.url}/v1/models`, { headers: { authorization: 'Bearer # the team' } })).status, 401);
      assert.equal((await fetch(`${r.url}/healthz`)).status, 200);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
