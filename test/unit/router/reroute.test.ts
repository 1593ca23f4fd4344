/** The router's re-routing decision (router/reroute.ts): when it fires and which stages move. */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { decideReroute, rerouteAfter } from '../../../router/reroute.ts';
import { toyManifest } from './fakes.ts';

describe('decideReroute', () => {
  it('keeps the path when the new one is the same', () => {
    assert.deepEqual(decideReroute(['L0.1', 'L1.2'], ['L0.1', 'L1.2']), { type: 'keep' });
  });

  it('moves every stage from the first level whose expert changes, later ones included even where unchanged', () => {
    assert.deepEqual(decideReroute(['L0.0', 'L1.0'], ['L0.1', 'L1.0']), { type: 'move', path: ['L0.1', 'L1.0'], fromLevel: 0 });
    assert.deepEqual(decideReroute(['L0.0', 'L1.0'], ['L0.0', 'L1.3']), { type: 'move', path: ['L0.0', 'L1.3'], fromLevel: 1 });
    assert.deepEqual(decideReroute(['L0.0', 'L1.0', 'L2.0'], ['L0.0', 'L1.1', 'L2.0']),
      { type: 'move', path: ['L0.0', 'L1.1', 'L2.0'], fromLevel: 1 });
    assert.deepEqual(decideReroute(['L0.0', 'L1.0', 'L2.0'], ['L0.0', 'L1.0', 'L2.1']),
      { type: 'move', path: ['L0.0', 'L1.0', 'L2.1'], fromLevel: 2 });
  });
});

describe('rerouteAfter', () => {
  const router = toyManifest().router; // prefix_bytes 16
  const context = Uint8Array.from({ length: 60 }, (_, i) => i);

  it('fires after every N-th generated token only, and never with N = 0', () => {
    const windows: number[][] = [];
    const route = (w: Uint8Array) => { windows.push([...w]); return ['L0.1', 'L1.1']; };
    const fired = [];
    for (let g = 1; g <= 20; g++) {
      if (rerouteAfter({ router, every: 8 }, ['L0.0', 'L1.0'], g, context, 30 + g, route).type === 'move') fired.push(g);
    }
    assert.deepEqual(fired, [8, 16]);
    assert.equal(windows.length, 2, 'the router is not consulted between re-routes');
    for (let g = 1; g <= 20; g++) assert.deepEqual(rerouteAfter({ router, every: 0 }, ['L0.0', 'L1.0'], g, context, 30 + g, route), { type: 'keep' });
    assert.equal(windows.length, 2);
  });

  it('routes on the last prefix_bytes bytes of the context, the newest token last', () => {
    let seen: number[] = [];
    const route = (w: Uint8Array) => { seen = [...w]; return ['L0.0', 'L1.0']; };
    assert.deepEqual(rerouteAfter({ router, every: 4 }, ['L0.0', 'L1.0'], 4, context, 40, route), { type: 'keep' });
    assert.deepEqual(seen, Array.from({ length: 16 }, (_, i) => 24 + i));
    // A context shorter than the window is read whole.
    rerouteAfter({ router, every: 4 }, ['L0.0', 'L1.0'], 4, context, 9, route);
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
