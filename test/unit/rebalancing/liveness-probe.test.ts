import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLivenessProbe } from '../../../expert-host/rebalancing/liveness-probe.ts';
import { SwarmpathError } from '../../../shared/errors.ts';
import type { HostInfo } from '../../../shared/transport-types.ts';
import { rec } from './fixtures.ts';

const info = (peerId: string, state: HostInfo['state'] = 'ONLINE'): HostInfo => ({
  peerId, version: 't', model: 'm', experts: [], queueDepth: 0, throughput: 0, kvCapacityBytes: 1, kvFreeBytes: 1, state, device: 'cpu', maxContext: 8,
});

test('keeps hosts that answer ONLINE as themselves or are only slow; drops refused, other peers and draining ones', async () => {
  const answers: Record<string, () => Promise<HostInfo>> = {
    'a:1': async () => info('a'),
    'b:1': async () => { throw new SwarmpathError('UNAVAILABLE', 'connect ECONNREFUSED'); },
    'c:1': async () => { throw new SwarmpathError('DEADLINE_EXCEEDED', 'slow'); },
    'd:1': async () => info('someone-else'),
    'e:1': async () => info('e', 'DRAINING'),
    'f:1': async () => { throw new Error('weird'); },
  };
  const calls: string[] = [];
  const probe = createLivenessProbe({ timeoutMs: 10 }, { source: { info: (addr) => { calls.push(addr); return answers[addr](); } } });
  const records = ['a', 'b', 'c', 'd', 'e', 'f', 'me'].map((p) => rec(p, ['X'], { grpc: `${p}:1` }));
  const live = await probe.filter(records, 'me');
  assert.deepEqual(live.map((r) => r.peerId), ['a', 'c', 'me']);
  assert.ok(!calls.includes('me:1'), 'self is not probed');
});
