/**
 * device: 'cuda' uses the CUDA execution provider where it can run, else CPU with exactly one warn
 * line per process that gives the reason `swarmpath doctor` gives (the same diagnosis).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { createLogger } from '../../../shared/log.ts';
import { diagnose } from '../../../shared/model/cuda-diagnosis.ts';
import { gatherCudaFacts } from '../../../shared/model/cuda-facts.ts';
import { loadPackage } from '../../../shared/model/package.ts';
import { openExpert, openHead } from '../../../shared/model/ort.ts';
import { checkProbe } from '../../../shared/model/probe.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { measure } from '../../../bench/gpu-check-step.ts';

const tf32Before = process.env.NVIDIA_TF32_OVERRIDE;

test('cuda falls back to cpu with exactly one warning per process, naming the diagnosis, and still computes correctly', async () => {
  const lines: string[] = [];
  const log = createLogger('test', { level: 'debug', write: (l) => lines.push(l) });
  const pkg = await loadPackage(await synthFixture());
  const a = await openExpert(pkg, 'L0.0', { device: 'cuda', log });
  const b = await openExpert(pkg, 'L0.1', { device: 'cuda', log });
  const h = await openHead(pkg, { device: 'cuda', log });
  assert.equal(a.device, b.device);
  assert.equal(h.device, a.device);
  const warns = lines.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level === 'warn');
  const doctor = diagnose(await gatherCudaFacts({ backends: ort.listSupportedBackends() }));
  if (a.device === 'cpu') {
    assert.equal(warns.length, 1, lines.join('\n'));
    assert.match(warns[0].msg, /^CUDA execution provider unavailable \(.+\); running on CPU$/);
    if (!doctor.cuda.usable) assert.ok(warns[0].msg.includes(`(${doctor.cuda.reason!}`), `${warns[0].msg}\nvs doctor: ${doctor.cuda.reason}`);
  } else {
    assert.equal(warns.length, 0, lines.join('\n'));
    assert.equal(doctor.cuda.usable, true);
    // Full float32 on the GPU unless the environment said otherwise (ort.ts, SessionOptions.tf32).
    if (tf32Before === undefined) assert.equal(process.env.NVIDIA_TF32_OVERRIDE, '0');
  }
  assert.equal(await checkProbe(a, pkg.expert('L0.0').probe, pkg.manifest.dims), true);
  const cpu = await openExpert(pkg, 'L0.0', { device: 'cpu', log });
  assert.equal(cpu.device, 'cpu');
  await Promise.all([a.release(), b.release(), h.release(), cpu.release()]);
});

test("the device check's step timing (bench/gpu-check-step.ts) runs a batched step on whatever device it gets", async () => {
  const r = await measure({ model: await synthFixture(), device: 'cuda', batch: 4, past: 8, steps: 2, warmup: 1, threads: 1, tf32: false });
  assert.equal(r.device_requested, 'cuda');
  assert.ok(r.device === 'cpu' || r.device === 'cuda');
  assert.equal(r.probe_ok, true);
  assert.deepEqual((r.cases as { past: number }[]).map((c) => c.past), [0, 8]);
  assert.ok((r.step_ms as number) > 0 && (r.tokens_per_s as number) > 0);
});
