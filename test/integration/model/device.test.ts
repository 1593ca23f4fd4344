/** device: 'cuda' uses the CUDA execution provider where onnxruntime has it, else CPU with one warn line. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createLogger } from '../../../shared/log.ts';
import { loadPackage } from '../../../shared/model/package.ts';
import { openExpert, openHead } from '../../../shared/model/ort.ts';
import { checkProbe } from '../../../shared/model/probe.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';

test('cuda falls back to cpu with exactly one warning per process, and still computes correctly', async () => {
  const lines: string[] = [];
  const log = createLogger('test', { level: 'debug', write: (l) => lines.push(l) });
  const pkg = await loadPackage(await synthFixture());
  const a = await openExpert(pkg, 'L0.0', { device: 'cuda', log });
  const b = await openExpert(pkg, 'L0.1', { device: 'cuda', log });
  const h = await openHead(pkg, { device: 'cuda', log });
  assert.equal(a.device, b.device);
  assert.equal(h.device, a.device);
  const warns = lines.filter((l) => (JSON.parse(l) as { level: string }).level === 'warn');
  if (a.device === 'cpu') {
    assert.equal(warns.length, 1, lines.join('\n'));
    assert.match(warns[0], /CUDA execution provider unavailable \(.+\); running on CPU/);
  } else {
    assert.equal(warns.length, 0, lines.join('\n'));
  }
  assert.equal(await checkProbe(a, pkg.expert('L0.0').probe, pkg.manifest.dims), true);
  const cpu = await openExpert(pkg, 'L0.0', { device: 'cpu', log });
  assert.equal(cpu.device, 'cpu');
  await Promise.all([a.release(), b.release(), h.release(), cpu.release()]);
});
