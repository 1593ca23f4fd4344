/**
 * Checks that a host really computes an expert (DESIGN-NOTES: nobody in the field does; a host can
 * serve wrong weights or garbage): a stateless Forward of the expert's manifest probe input
 * (docs/model-format.md, "Probes"), whose output's fingerprint must match the manifest's. float32 on
 * the wire both ways, so that the 1e-3 tolerance is the model's, not the codec's. Routers (the replica
 * pool: before a replica's first work, then at random times) and rebalancing hosts (before counting a
 * holder as supply) ask.
 */
import { fingerprint, fingerprintMatches, probeInput } from './probe.ts';
import type { ModelPackage } from '../runtime-types.ts';
import type { ExpertClient } from '../transport-types.ts';

export type VerifyResult = { type: 'ok' } | { type: 'mismatch'; got: number[]; want: number[] };

/** Runs the probe of `expertId` on a host; rejects when the call itself fails (transport, deadline). */
export type ReplicaVerifier = (expertId: string, client: ExpertClient, signal?: AbortSignal) => Promise<VerifyResult>;

/** A verifier over the manifest's probes; each probe call has `timeoutMs`. */
export function createProbeVerifier(pkg: ModelPackage, timeoutMs = 5000): ReplicaVerifier {
  const D = pkg.manifest.dims.d_model;
  const inputs = new Map<string, Float32Array>();
  return async (expertId, client, signal) => {
    const probe = pkg.expert(expertId).probe;
    let input = inputs.get(expertId);
    if (!input) {
      input = probeInput(probe.seed, probe.tokens, D);
      inputs.set(expertId, input);
    }
    const out = await client.forward(expertId, { data: input, dims: [1, probe.tokens, D] },
      { deadlineMs: Date.now() + timeoutMs, signal, wireDtype: 'float32' });
    if (out.data.length !== probe.tokens * D) return { type: 'mismatch', got: [], want: probe.fingerprint };
    const got = fingerprint(probe.seed, out.data);
    return fingerprintMatches(got, probe.fingerprint) ? { type: 'ok' } : { type: 'mismatch', got, want: probe.fingerprint };
  };
}
