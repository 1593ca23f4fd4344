/**
 * The throughput work with real host processes, real gRPC and real onnxruntime on the bundled model:
 * decode steps of sessions running at once share the router's stem and head calls
 * (router/row-batcher.ts), the hosts' expert calls (expert-host/step-batcher.ts, reusing one input
 * arena) and the wire (one Sessions stream per host), and every session still gets the tokens it
 * gets alone; a long prompt's pipelined prefill (router/path-session.ts) gives the tokens of the
 * prompt run in one step.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, test } from 'vitest';
import { startLocalHost, staticDiscovery, type LocalHost } from '../../../bench/local-hosts.ts';
import { silentLogger } from '../../../shared/log.ts';
import { loadPackage } from '../../../shared/model/package.ts';
import { choosePath } from '../../../shared/model/path-choice.ts';
import type { ModelPackage } from '../../../shared/runtime-types.ts';
import { openModelRuntime, type ModelRuntime } from '../../../router/model-runtime.ts';
import { PathSession, PREFILL_CHUNK } from '../../../router/path-session.ts';
import type { ReplicaPool } from '../../../router/replica-pool.ts';
import { openPipeline, type Pipeline } from '../../../bench/swarm-pipeline.ts';

const MODEL = fileURLToPath(new URL('../../../models/swarmpath-tiny', import.meta.url));
const PROMPTS = ['The swarm ', 'Experts on a path: ', 'int main(void) {', 'Description: a', 'Package: lib', 'function f(x) {', 'A river ', '# README\n'];
let pkg: ModelPackage;
let runtime: ModelRuntime;
let pool: ReplicaPool;
let pipeline: Pipeline;
let hosts: LocalHost[];
let path: string[];

beforeAll(async () => {
  pkg = await loadPackage(MODEL);
  // One path for every prompt (its first one's), so that all sessions meet on the same two hosts.
  path = [...choosePath(pkg.manifest.router, new TextEncoder().encode(PROMPTS[0])).path];
  hosts = await Promise.all(path.map((id) => startLocalHost(MODEL, [id])));
  // The router's own runtime and replica pool over the real hosts (the decode benchmark's).
  pipeline = await openPipeline(pkg, staticDiscovery(pkg.manifest.name, hosts));
  ({ runtime, pool } = pipeline);
}, 120_000);

afterAll(async () => {
  await pipeline?.close();
  await Promise.all((hosts ?? []).map((h) => h.child.stop()));
});

const opts = () => ({ deadlineMs: Date.now() + 30_000 });
const D = () => pkg.manifest.dims.d_model;

/** Seeded sampled tokens of `steps` decode steps after `prompt` (temperature 0.8: any numeric drift shows). */
async function decode(prompt: string, steps: number, seed: number, prefillChunk = PREFILL_CHUNK): Promise<number[]> {
  const bytes = new TextEncoder().encode(prompt);
  const ps = new PathSession({ path, maxLength: bytes.length + steps + 1, dModel: D(), chain: 'off', prefillChunk }, { pool, log: silentLogger });
  const sample = runtime.sampler(seed, { temperature: 0.8, topP: 1 });
  try {
    let tok = sample(await runtime.lastLogits(await ps.forward(await runtime.embed(bytes, 0), 0, opts())));
    const tokens = [tok];
    for (let i = 0; i < steps; i++) {
      const pos = bytes.length + i;
      tok = sample(await runtime.lastLogits(await ps.forward(await runtime.embed([tok], pos), pos, opts())));
      tokens.push(tok);
    }
    return tokens;
  } finally {
    ps.close();
  }
}

const rowsSeen = (h: ReadonlyMap<number, number>) => [...h.keys()].reduce((a, b) => Math.max(a, b), 0);

test('concurrent sessions share stem and head calls and each gets exactly its lone tokens', async () => {
  const alone: number[][] = [];
  for (const [k, p] of PROMPTS.entries()) alone.push(await decode(p, 32, k));
  assert.equal(rowsSeen(runtime.batchSizes().head), 1, 'one session at a time: no shared call');
  const together = await Promise.all(PROMPTS.map((p, k) => decode(p, 32, k)));
  for (let k = 0; k < PROMPTS.length; k++) assert.deepEqual(together[k], alone[k], PROMPTS[k]);
  const sizes = runtime.batchSizes();
  assert.ok(rowsSeen(sizes.stem) > 1, `stem calls were shared: ${JSON.stringify([...sizes.stem])}`);
  assert.ok(rowsSeen(sizes.head) > 1, `head calls were shared: ${JSON.stringify([...sizes.head])}`);
});

test("batched stem and head rows equal each row's lone call", async () => {
  const lone = await openModelRuntime({ pkg, threads: 1, maxBatchRows: 1 });
  try {
    const tokens = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 256);
    const [a, b] = await Promise.all([lone, runtime].map((rt) => Promise.all(tokens.map((t, i) => rt.embed([t], i * 7)))));
    const hidden = a.map((x, i) => ({ data: x.data.map((v, j) => 3 * v + Math.sin(i + j)), dims: [1, 1, D()] }));
    const [la, lb] = await Promise.all([lone, runtime].map((rt) => Promise.all(hidden.map((h) => rt.lastLogits(h)))));
    let worst = 0;
    for (let i = 0; i < tokens.length; i++) {
      for (let j = 0; j < D(); j++) worst = Math.max(worst, Math.abs(a[i].data[j] - b[i].data[j]));
      for (let j = 0; j < la[i].length; j++) worst = Math.max(worst, Math.abs(la[i][j] - lb[i][j]));
    }
    assert.ok(worst <= 1e-5, `batched differs from lone by ${worst}`);
    assert.equal(rowsSeen(lone.batchSizes().stem), 1);
  } finally {
    await lone.release();
  }
});

test('a 700-byte prompt prefilled in pipelined chunks gives the tokens of the prompt run in one step', async () => {
  const prompt = 'Package: swarmpath\nDescription: experts on a path, '.repeat(14).slice(0, 700);
  assert.ok(prompt.length >= 2 * PREFILL_CHUNK, 'long enough to be pipelined');
  for (const seed of [1, 2]) {
    const whole = await decode(prompt, 24, seed, 0);
    const pipelined = await decode(prompt, 24, seed);
    assert.deepEqual(pipelined, whole, `seed ${seed}`);
  }
});
