/**
 * The ExpertClient contract, run against both the in-memory fake (test/unit/grpc/fake-expert-client
 * .test.ts) and the real gRPC client talking to a real host (test/integration/host/). `reference`
 * gives the expert's output over a whole sequence, computed independently of the client.
 */
import assert from 'node:assert/strict';
import { test } from 'vitest';
import { SwarmpathError } from '../../../shared/errors.ts';
import type { F32 } from '../../../shared/runtime-types.ts';
import type { ExpertClient } from '../../../shared/transport-types.ts';

export interface ContractSubject {
  client: () => ExpertClient;
  expertId: string;
  D: number;
  reference(seq: Float32Array, N: number): Promise<Float32Array>;
  /** Largest allowed absolute difference from the reference (float32 wire). */
  tolerance: number;
}

const dl = (ms = 10_000) => ({ deadlineMs: Date.now() + ms });
const seqOf = (N: number, D: number, seed: number) => new Float32Array(N * D).map((_, i) => Math.sin(seed + i * 0.131));
const isCode = (code: string) => (e: unknown) => e instanceof SwarmpathError && e.code === code;

function close(a: Float32Array, b: Float32Array, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  assert.ok(worst <= tol, `${what}: max |diff| ${worst} > ${tol}`);
}

/** Registers the contract's tests for `s` (call at module level of a test file). */
export function expertClientContract(name: string, s: () => ContractSubject): void {
  test(`${name}: info lists the expert`, async () => {
    const x = s();
    const i = await x.client().info(dl());
    assert.ok(i.experts.some((e) => e.expertId === x.expertId));
    assert.equal(i.state, 'ONLINE');
    assert.ok(i.kvFreeBytes <= i.kvCapacityBytes);
  });

  test(`${name}: forward equals the reference`, async () => {
    const x = s();
    const seq = seqOf(5, x.D, 1);
    const out = await x.client().forward(x.expertId, { data: seq, dims: [1, 5, x.D] }, dl());
    assert.deepEqual([...out.dims], [1, 5, x.D]);
    close(out.data, await x.reference(seq, 5), x.tolerance, 'forward');
  });

  test(`${name}: session prefill + decode equals the reference, and a replay gives the same tail`, async () => {
    const x = s();
    const N = 7;
    const seq = seqOf(N, x.D, 2);
    const ref = await x.reference(seq, N);
    const sess = await x.client().openSession(x.expertId, 16, dl());
    const slice = (a: number, b: number): F32 => ({ data: seq.slice(a * x.D, b * x.D), dims: [1, b - a, x.D] });
    const parts = [await sess.step(slice(0, 4), 0, dl())];
    for (let p = 4; p < N; p++) parts.push(await sess.step(slice(p, p + 1), p, dl()));
    const got = new Float32Array(parts.flatMap((p) => [...p.data]));
    close(got, ref, x.tolerance, 'session');
    const replay = await sess.step(slice(2, N), 2, dl());
    close(replay.data, ref.subarray(2 * x.D), x.tolerance, 'replay');
    await assert.rejects(sess.step(slice(0, 1), N + 1, dl()), isCode('INVALID_ARGUMENT'));
    sess.close();
    assert.equal(sess.closed, true);
    await assert.rejects(sess.step(slice(0, 1), 0, dl()));
  });

  test(`${name}: unknown expert and expired deadline`, async () => {
    const x = s();
    const h = { data: seqOf(1, x.D, 3), dims: [1, 1, x.D] };
    await assert.rejects(x.client().forward('L99.99', h, dl()), isCode('UNKNOWN_EXPERT'));
    await assert.rejects(x.client().openSession('L99.99', 4, dl()), isCode('UNKNOWN_EXPERT'));
    await assert.rejects(x.client().forward(x.expertId, h, { deadlineMs: Date.now() - 1 }), isCode('DEADLINE_EXCEEDED'));
  });
}
