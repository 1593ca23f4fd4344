import { describe, expect, it } from 'vitest';
import { allFinite, createCrossChecker, outputsAgree, type CrossCheckResult } from '../../../router/cross-check.ts';
import { silentLogger } from '../../../shared/log.ts';
import { float16ToFloat32, float32ToFloat16 } from '../../../shared/grpc/float16.ts';
import type { F32 } from '../../../shared/runtime-types.ts';
import type { Replica } from '../../../router/replica-pool-types.ts';
import type { ExpertClient } from '../../../shared/transport-types.ts';

const D = 4;
const truth = (seq: F32): F32 => ({ data: seq.data.map((x, i) => Math.tanh(x + i * 0.01)), dims: seq.dims });
const tail = (t: F32, T: number): F32 => ({ data: t.data.slice((t.dims[1] - T) * D), dims: [1, T, D] });

function replica(peerId: string, lie = 0): Replica & { calls: number } {
  const r = {
    peerId, grpc: `10.0.0.${peerId.length}:${peerId.charCodeAt(0)}`, calls: 0,
    client: {
      address: peerId,
      async forward(_e: string, seq: F32) { r.calls++; const t = truth(seq); return { data: t.data.map((x) => x + lie), dims: t.dims }; },
    } as unknown as ExpertClient,
  };
  return r;
}

function checker(others: Replica[], opts: { fraction?: number; random?: () => number } = {}) {
  const distrusted: string[] = [];
  const results: CrossCheckResult['type'][] = [];
  const cc = createCrossChecker({ fraction: opts.fraction ?? 0, firstChecks: 1 }, {
    async acquire(_expertId, o) {
      const r = others.find((x) => !o.exclude?.has(x.peerId));
      if (!r) throw new Error('none');
      return r;
    },
    distrust: (peerId, address) => distrusted.push(`${peerId}@${address}`),
    random: opts.random ?? (() => 0.5), clock: () => 0, log: silentLogger,
    onResult: (_e, r) => results.push(r),
  });
  return { cc, distrusted, results };
}

const seq: F32 = { data: Float32Array.from({ length: 3 * D }, (_, i) => Math.sin(i)), dims: [1, 3, D] };

describe('outputsAgree', () => {
  it('accepts float16 rounding, rejects a perturbation, a NaN, or another length', () => {
    const want = truth(seq).data;
    expect(outputsAgree(float16ToFloat32(float32ToFloat16(want)), want, 0.02)).toBe(true);
    expect(outputsAgree(want.map((x) => x + 0.1), want, 0.02)).toBe(false);
    expect(outputsAgree(want.map((x, i) => (i === 3 ? x * 1.2 : x)), want, 0.02)).toBe(false);
    const nan = Float32Array.from(want); nan[0] = NaN;
    expect(outputsAgree(nan, want, 0.02)).toBe(false);
    expect(outputsAgree(want.subarray(1), want, 0.02)).toBe(false);
  });
  it('allFinite spots NaN and infinities', () => {
    expect(allFinite(seq)).toBe(true);
    expect(allFinite({ data: Float32Array.of(1, Infinity), dims: [1, 1, 2] })).toBe(false);
    expect(allFinite({ data: Float32Array.of(NaN), dims: [1, 1, 1] })).toBe(false);
  });
});

describe('cross-checks', () => {
  it('checks a replica until it passed its first checks, then samples at `fraction`', async () => {
    let u = 0.5;
    const { cc } = checker([replica('b')], { fraction: 0.1, random: () => u });
    expect(cc.due('L0.0', 'a')).toBe(true);
    expect((await cc.check('L0.0', replica('a'), seq, tail(truth(seq), 1))).type).toBe('ok');
    expect(cc.due('L0.0', 'a')).toBe(false);
    u = 0.05;
    expect(cc.due('L0.0', 'a')).toBe(true);
    expect(cc.due('L0.1', 'a'), 'per expert').toBe(true);
  });

  it('a primary outvoted by two replicas is distrusted (peer and address) and the honest output returned', async () => {
    const a = replica('a', 0.3);
    const { cc, distrusted, results } = checker([replica('b'), replica('cc')]);
    const out = tail({ data: truth(seq).data.map((x) => x + 0.3), dims: seq.dims }, 2);
    const r = await cc.check('L0.0', a, seq, out);
    expect(r.type).toBe('primary-wrong');
    if (r.type === 'primary-wrong') expect(Array.from(r.honest.data)).toEqual(Array.from(tail(truth(seq), 2).data));
    expect(distrusted).toEqual([`a@${a.grpc}`]);
    expect(results).toEqual(['primary-wrong']);
  });

  it('a lying checker is the one distrusted; the primary output stands', async () => {
    const liar = replica('b', 0.5);
    const { cc, distrusted } = checker([liar, replica('cc')]);
    expect((await cc.check('L0.0', replica('a'), seq, tail(truth(seq), 1))).type).toBe('checker-wrong');
    expect(distrusted).toEqual([`b@${liar.grpc}`]);
  });

  it('with no third replica a mismatch blames nobody; with no second one nothing is compared', async () => {
    const one = checker([replica('b')]);
    const wrong: F32 = { data: tail(truth(seq), 1).data.map((x) => x + 1), dims: [1, 1, D] };
    expect((await one.cc.check('L0.0', replica('a'), seq, wrong)).type).toBe('inconclusive');
    expect(one.distrusted).toEqual([]);
    let now = 1_000; // not 0: lru-cache reads a start time of 0 as "no TTL"
    const others: Replica[] = [];
    const none = createCrossChecker({ fraction: 0, firstChecks: 1 }, {
      async acquire(_e, o) { const r = others.find((x) => !o.exclude?.has(x.peerId)); if (!r) throw new Error('none'); return r; },
      distrust: () => {}, random: () => 0.5, clock: () => now, log: silentLogger,
    });
    expect((await none.check('L0.0', replica('a'), seq, tail(truth(seq), 1))).type).toBe('skipped');
    // A lone replica is not slowed down by a check per step: none is tried for 30 s...
    expect(none.due('L0.0', 'a')).toBe(false);
    now = 31_001;
    // ...then it is, and a skipped check never counted as passed.
    expect(none.due('L0.0', 'a')).toBe(true);
    others.push(replica('b'));
    expect((await none.check('L0.0', replica('a'), seq, tail(truth(seq), 1))).type).toBe('ok');
  });
});
