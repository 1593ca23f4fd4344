/** Helpers of the rebalancing unit tests: host records and a seeded PRNG. */
import type { HostRecord } from '../../../shared/transport-types.ts';
import { mulberry32 } from '../../../shared/model/rng.ts';

/** A host record serving `experts`, ONLINE unless told otherwise. */
export function rec(peerId: string, experts: readonly string[], over: Partial<HostRecord> = {}): HostRecord {
  return {
    peerId, model: 'm', experts: [...experts], grpc: `127.0.0.1:${1000 + peerId.length}`, state: 'ONLINE',
    version: 'test', device: 'cpu', kvCapacityBytes: 1, kvFreeBytes: 1, queueDepth: 0, throughput: 0,
    auto: true, seq: 1, expiresAt: Number.MAX_SAFE_INTEGER, ...over,
  };
}

/** `counts[i]` fixed (non-auto) hosts on expert `experts[i]`, named `<prefix><expert>-<n>`. */
export function hostsWith(experts: string[], counts: number[], over: Partial<HostRecord> = {}, prefix = 'h'): HostRecord[] {
  const out: HostRecord[] = [];
  experts.forEach((e, i) => {
    for (let n = 0; n < counts[i]; n++) out.push(rec(`${prefix}${e}-${n}`, [e], over));
  });
  return out;
}

/** mulberry32 (shared/model/rng.ts): a small seeded uniform [0, 1) generator. */
export const prng = mulberry32;

export const EXPERTS4 = ['L0.0', 'L0.1', 'L1.0', 'L1.1'];
export const noDemand = new Map<string, number>();
