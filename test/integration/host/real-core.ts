/**
 * A host core over one real onnxruntime expert (L1.0 of a 2-layer synth package), in process, with
 * batching on (max 32 rows, no wait), recording each batched call's size. For tests of batching.
 */
import { createHostCore, type HostCore } from '../../../expert-host/host-core.ts';
import { loadPackage } from '../../../shared/model/package.ts';
import { openExpert } from '../../../shared/model/ort.ts';
import type { ExpertModel, ModelPackage } from '../../../shared/runtime-types.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';

export interface RealCore { pkg: ModelPackage; model: ExpertModel; core: HostCore; D: number; batches: number[] }

export async function realCore(): Promise<RealCore> {
  const pkg = await loadPackage(await synthFixture({ layers: 2 }));
  const model = await openExpert(pkg, 'L1.0');
  const batches: number[] = [];
  const core = createHostCore({
    modelName: pkg.manifest.name, dims: pkg.manifest.dims, experts: [{ model, shardPath: pkg.filePath(pkg.expert('L1.0').file) }],
    kvCapacityBytes: 64 << 20, sessionIdleMs: 60_000, maxBatch: 32, batchWaitMs: 0, version: 't', device: 'cpu',
    onBatch: (b) => batches.push(b.items),
  });
  return { pkg, model, core, D: pkg.manifest.dims.d_model, batches };
}
