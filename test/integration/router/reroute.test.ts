/**
 * Re-routing on a real local swarm (`swarmpath swarm`, router `--reroute-every 8`, 2 replicas of each
 * of 4 experts, a synth model whose 4 paths cover every pair of experts): requests whose path changes
 * mid-generation (at level 1 only, and at level 0) give the text of a monolithic reference that applies
 * the same rule (a MonolithicRunner per path, the new path prefilled with the whole context), also
 * when a host is SIGKILLed in the middle of the stream.
 */
import { describe, it, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { loadPackage } from '../../../shared/model/package.ts';
import { createMonolithicRunner } from '../../../shared/model/monolithic.ts';
import type { MonolithicRunner } from '../../../shared/model/monolithic.ts';
import { choosePath } from '../../../shared/model/path-choice.ts';
import { createRng } from '../../../shared/model/rng.ts';
import { sampleToken } from '../../../shared/model/sampling.ts';
import { createStreamDecoder, encode } from '../../../shared/model/tokenizer.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { startLocalSwarm, type LocalSwarm } from '../../helpers/local-swarm.ts';
import { sseData } from '../../helpers/sse.ts';

const EVERY = 8;
let swarm: LocalSwarm;
let modelDir: string;

/**
 * The reference, written independently of router/reroute.ts: after the g-th token (g a multiple of
 * EVERY, not the last) choose the path from the last prefix_bytes bytes; on a change, prefill the new
 * path's runner with the whole context. Same sampler and rng as the router (one draw per token).
 */
async function rerouteReference(prompt: string, maxTokens: number, seed: number, temperature: number) {
  const pkg = await loadPackage(modelDir);
  const { router } = pkg.manifest;
  const runners = new Map<string, MonolithicRunner>();
  const runnerFor = async (path: readonly string[]) => {
    if (!runners.has(path.join())) runners.set(path.join(), await createMonolithicRunner({ pkg, path }));
    return runners.get(path.join())!;
  };
  const context = Array.from(encode(prompt));
  let path = choosePath(router, encode(prompt)).path;
  const paths = [path];
  try {
    let m = await runnerFor(path);
    let logits = await m.prefill(context);
    const rng = createRng(seed);
    const dec = createStreamDecoder();
    let text = '';
    for (let g = 1; g <= maxTokens; g++) {
      const tok = sampleToken(logits, { temperature, topP: 1 }, rng);
      context.push(tok);
      text += dec.push(tok);
      if (g === maxTokens) break;
      const next = g % EVERY === 0 ? choosePath(router, Uint8Array.from(context.slice(-router.featurizer.prefix_bytes))).path : path;
      if (next.join() !== path.join()) {
        path = next;
        paths.push(path);
        m = await runnerFor(path);
        logits = await m.prefill(context);
      } else {
        logits = await m.decodeStep(tok);
      }
    }
    return { text: text + dec.flush(), paths: paths.map((p) => p.join(',')) };
  } finally {
    for (const m of runners.values()) await m.release();
  }
}

async function complete(body: Record<string, unknown>) {
  const r = await fetch(`${swarm.http}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000),
  });
  return { status: r.status, text: await r.text() };
}

beforeAll(async () => {
  modelDir = await synthFixture({ levels: [2, 2], clusters: 4 });
  swarm = await startLocalSwarm({ model: modelDir, replicas: 2, spare: 0, hostArgs: ['--no-rebalance'], routerArgs: [`--reroute-every=${EVERY}`] });
});

afterAll(async () => {
  if (!swarm) return;
  assert.equal(await swarm.stop(), 0);
});

describe('re-routing on a local swarm', () => {
  it('a request whose path changes (level 1 only, then level 0) gives the monolithic re-routing text', async () => {
    for (const prompt of ['The quick brown fox', 'Once upon a time']) {
      const want = await rerouteReference(prompt, 64, 99, 0.9);
      assert.ok(want.paths.length > 1, `${prompt}: the reference changes path (${want.paths.join(' | ')})`);
      const mono = await createMonolithicRunner({ pkg: await loadPackage(modelDir), path: want.paths[0].split(',') });
      const plain = await mono.generate(prompt, { maxTokens: 64, temperature: 0.9, seed: 99 }).finally(() => mono.release());
      assert.notEqual(plain.text, want.text, 'a router that did not re-route would give another text');
      const r = await complete({ prompt, max_tokens: 64, temperature: 0.9, seed: 99 });
      assert.equal(r.status, 200, r.text);
      const b = JSON.parse(r.text);
      assert.equal(b.choices[0].text, want.text, prompt);
      assert.equal(b.usage.completion_tokens, 64);
      assert.deepEqual(b.swarmpath.path.join(','), want.paths[0], 'the prompt\'s path');
      assert.deepEqual(b.swarmpath.paths.map((p: string[]) => p.join(',')), want.paths, 'every path it took, in order');
      assert.equal(b.swarmpath.reroutes, want.paths.length - 1);
      for (const to of want.paths.slice(1)) {
        assert.ok(swarm.logs.some((l) => l.includes('"msg":"re-routed"') && l.includes(`"to":"${to}"`)), `${prompt}: the router logged the move to ${to}`);
      }
    }
    // The first prompt moves at level 1 only, the second at level 0 (the test covers both kinds).
    const [a, b] = [await rerouteReference('The quick brown fox', 64, 99, 0.9), await rerouteReference('Once upon a time', 64, 99, 0.9)];
    assert.equal(a.paths[0].split(',')[0], a.paths[1].split(',')[0]);
    assert.notEqual(b.paths[0].split(',')[0], b.paths[1].split(',')[0]);
  });

  it('keeps the re-routing text when a host is SIGKILLed in the middle of the stream', async () => {
    const prompt = 'Once upon a time';
    const want = await rerouteReference(prompt, 200, 4242, 0.8);
    assert.ok(want.paths.length > 1);
    const r = await fetch(`${swarm.http}/v1/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt, max_tokens: 200, temperature: 0.8, seed: 4242, stream: true }), signal: AbortSignal.timeout(120_000),
    });
    assert.equal(r.status, 200);
    let text = '';
    let killed: string | undefined;
    let last: any;
    for await (const data of sseData(r.body)) {
      if (data === '[DONE]') continue;
      const c = JSON.parse(data);
      assert.equal(c.error, undefined, data);
      text += c.choices[0]?.text ?? '';
      last = c;
      if (!killed) {
        killed = c.swarmpath.hosts.at(-1) as string;
        swarm.killHost(killed, 'SIGKILL');
      }
    }
    assert.ok(killed);
    assert.equal(text, want.text);
    assert.ok(last.swarmpath.replays >= 1, JSON.stringify(last.swarmpath));
    assert.ok(!last.swarmpath.hosts.includes(killed));
  });
});
