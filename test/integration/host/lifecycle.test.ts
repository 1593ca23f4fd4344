/**
 * The host process's lifecycle: SIGTERM drains (open sessions finish, new ones are refused) and
 * exits 0; a shard whose sha256 does not match the manifest is refused naming the file, and an
 * expert that does not reproduce its manifest probe naming the expert;
 * `--device cuda` falls back to CPU with one log line where CUDA is unavailable.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'vitest';
import { createExpertClient } from '../../../shared/grpc/client.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { runHostToExit, spawnHost } from './spawn-host.ts';

const D = 64;
const dl = () => ({ deadlineMs: Date.now() + 10_000 });
const h = (T = 1) => ({ data: new Float32Array(T * D).fill(0.5), dims: [1, T, D] });

test('SIGTERM: open sessions keep working, new ones are refused, exit 0 once they close', async () => {
  const host = await spawnHost(['--model', await synthFixture(), '--expert', 'L0.1', '--no-dht', '--drain-grace-s', '30']);
  const c = createExpertClient(host.ready.grpc);
  try {
    const s = await c.openSession('L0.1', 8, dl());
    await s.step(h(2), 0, dl());
    host.proc.kill('SIGTERM');
    await waitFor('the host to report DRAINING', async () => (await c.info(dl())).state === 'DRAINING', { timeoutMs: 5_000 });
    assert.equal((await c.info(dl())).state, 'DRAINING');
    await assert.rejects(c.openSession('L0.1', 8, dl()), (e: any) => e.code === 'UNAVAILABLE' && /DRAINING/.test(e.message));
    await assert.rejects(c.forward('L0.1', h(), dl()), (e: any) => e.code === 'UNAVAILABLE');
    const r = await s.step(h(), 2, dl());
    assert.deepEqual([...r.dims], [1, 1, D]);
    assert.equal(host.proc.exitCode, null, 'still draining while a session is open');
    const t0 = Date.now();
    s.close();
    assert.equal(await host.exited, 0);
    assert.ok(Date.now() - t0 < 10_000, 'exits soon after the last session closes, not after the grace');
    assert.match(host.stderr(), /draining/);
  } finally {
    c.close();
    host.proc.kill('SIGKILL');
  }
});

test('SIGINT with a session left open: the grace ends it with UNAVAILABLE and the host exits 0', async () => {
  const host = await spawnHost(['--model', await synthFixture(), '--expert', 'L0.1', '--no-dht', '--drain-grace-s', '0.3']);
  const c = createExpertClient(host.ready.grpc);
  try {
    const s = await c.openSession('L0.1', 8, dl());
    assert.equal(await host.stop('SIGINT'), 0);
    await assert.rejects(s.step(h(), 0, dl()), (e: any) => e.code === 'UNAVAILABLE');
    assert.equal(s.closed, true);
  } finally {
    c.close();
  }
});

test('a shard whose sha256 does not match the manifest is refused, naming the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'swarmpath-badshard-'));
  try {
    await cp(await synthFixture(), dir, { recursive: true });
    const file = join(dir, 'experts', 'L1.0.onnx');
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(file);
    bytes[bytes.length - 1] ^= 0xff; // same size, different content
    await writeFile(file, bytes);
    const r = await runHostToExit(['--model', dir, '--expert', 'L1.0', '--no-dht']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /experts\/L1\.0\.onnx has sha256 [0-9a-f]{64}, manifest says/);
    assert.equal(r.stdout, '', 'no ready event');
    const unknown = await runHostToExit(['--model', dir, '--expert', 'L7.0', '--no-dht']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /unknown expert "L7.0"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an expert that does not reproduce its manifest probe is refused at start, naming it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'swarmpath-badprobe-'));
  try {
    await cp(await synthFixture(), dir, { recursive: true });
    const { readFile } = await import('node:fs/promises');
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    const entry = manifest.levels[1].experts[0];
    entry.probe.fingerprint = entry.probe.fingerprint.map((x: number) => x * 1.01 + 0.01); // the file is intact; its probe no longer holds
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
    const r = await runHostToExit(['--model', dir, '--expert', 'L0.0', '--expert', 'L1.0', '--no-dht']);
    assert.equal(r.code, 2, 'a bad package, like a bad shard');
    assert.match(r.stderr, /expert L1\.0 on cpu does not reproduce its manifest probe \(fingerprint \[/);
    assert.equal(r.stdout, '', 'no ready event');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--device cuda: CUDA, or a fallback to CPU with exactly one log line', async () => {
  const host = await spawnHost(['--model', await synthFixture(), '--expert', 'L0.0', '--expert', 'L1.0', '--no-dht', '--device', 'cuda']);
  const c = createExpertClient(host.ready.grpc);
  try {
    const info = await c.info(dl());
    const lines = host.stderr().split("\n").filter((l) => /CUDA/i.test(l) && /cpu/i.test(l) && /"level":"warn"/.test(l));
    assert.equal(host.ready.device, info.device, 'the ready event names the device actually used');
    if (info.device === 'cuda') assert.equal(lines.length, 0, host.stderr());
    else {
      assert.equal(info.device, 'cpu');
      assert.equal(lines.length, 1, `one fallback line for two experts, got:\n${host.stderr()}`);
    }
    const out = await c.forward('L0.0', h(3), dl());
    assert.deepEqual([...out.dims], [1, 3, D]);
  } finally {
    c.close();
    assert.equal(await host.stop(), 0);
  }
});
