/** validateManifest: every rule of docs/model-format.md, each refusal naming the field. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { BadPackageError } from '../../../shared/errors.ts';
import { validateManifest } from '../../../shared/model/manifest-schema.ts';

const SHA = 'a'.repeat(64);
const ref = (file: string) => ({ file, sha256: SHA, bytes: 10 });
const expert = (id: string) => ({ id, ...ref(`experts/${id}.onnx`), layers: 2, probe: { seed: 1000, tokens: 4, fingerprint: [1, 2, 3, 4, 5, 6, 7, 8] } });

// deno-lint-ignore no-explicit-any
type Json = any;
function base(): Json {
  return {
    format: 'swarmpath-model/1', name: 'tiny-1', tokenizer: { type: 'bytes/1', vocab_size: 256 },
    dims: { d_model: 8, n_heads: 2, head_dim: 4, vocab_size: 256, max_context: 64 },
    stem: ref('stem.onnx'), head: ref('head.onnx'),
    levels: [{ name: 'L0', experts: [expert('L0.0'), expert('L0.1')] }, { name: 'L1', experts: [expert('L1.0'), expert('L1.1'), expert('L1.2')] }],
    router: {
      featurizer: { type: 'hashed-ngrams/1', prefix_bytes: 64, orders: [1, 2], buckets: 4 },
      centroids: [[0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]],
      paths: [['L0.0', 'L1.0'], ['L0.1', 'L1.1'], ['L0.0', 'L1.2']],
    },
    eval: { heldout: ref('eval/heldout.jsonl'), dense: { stem: ref('d/s.onnx'), blocks: ref('d/b.onnx'), head: ref('d/h.onnx'), layers: 4 } },
  };
}

test('a valid manifest passes and comes back typed', () => {
  const m = validateManifest(base());
  assert.equal(m.levels[1].experts[2].id, 'L1.2');
  assert.equal(m.eval?.dense?.layers, 4);
  const withCls = base();
  withCls.router.classifier = { weights: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], bias: [0, 0, 0] };
  assert.equal(validateManifest(withCls).router.classifier?.bias.length, 3);
});

const cases: [string, (m: Json) => void, RegExp][] = [
  ['not an object', (m) => { m.__replace = 5; }, /\(root\)/],
  ['wrong format', (m) => { m.format = 'swarmpath-model/2'; }, /^manifest format: .*swarmpath-model\/1/],
  ['bad name', (m) => { m.name = 'a b'; }, /^manifest name:/],
  ['tokenizer type', (m) => { m.tokenizer.type = 'bpe'; }, /tokenizer\.type/],
  ['d_model != heads*head_dim', (m) => { m.dims.d_model = 9; }, /dims\.d_model: must equal n_heads \* head_dim/],
  ['vocab mismatch', (m) => { m.dims.vocab_size = 255; }, /dims\.vocab_size: must equal tokenizer\.vocab_size/],
  ['non-positive dim', (m) => { m.dims.max_context = 0; }, /dims\.max_context: must be a positive integer/],
  ['fractional dim', (m) => { m.dims.n_heads = 1.5; }, /dims\.n_heads/],
  ['level name order', (m) => { m.levels[1].name = 'L2'; }, /levels\[1\]\.name: must be "L1"/],
  ['expert id order', (m) => { m.levels[1].experts[2].id = 'L1.3'; }, /levels\[1\]\.experts\[2\]\.id: must be "L1\.2"/],
  ['bad sha256', (m) => { m.levels[1].experts[2].sha256 = 'xyz'; }, /levels\[1\]\.experts\[2\]\.sha256: must be 64 hex/],
  ['absolute file', (m) => { m.stem.file = '/etc/passwd'; }, /stem\.file: must be a relative path/],
  ['.. in file', (m) => { m.head.file = 'a/../../x.onnx'; }, /head\.file: must be a relative path/],
  ['negative bytes', (m) => { m.levels[0].experts[0].bytes = -1; }, /levels\[0\]\.experts\[0\]\.bytes/],
  ['probe fingerprint length', (m) => { m.levels[0].experts[1].probe.fingerprint = [1]; }, /levels\[0\]\.experts\[1\]\.probe\.fingerprint: must have 8 numbers/],
  ['missing layers', (m) => { delete m.levels[0].experts[1].layers; }, /levels\[0\]\.experts\[1\]\.layers/],
  ['no levels', (m) => { m.levels = []; }, /^manifest levels: must not be empty/],
  ['centroid width', (m) => { m.router.centroids[2] = [1, 2]; }, /router\.centroids\[2\]: must have 4 numbers/],
  ['path count', (m) => { m.router.paths.pop(); }, /router\.paths: must have one path per centroid \(3\), has 2/],
  ['path length', (m) => { m.router.paths[1] = ['L0.1']; }, /router\.paths\[1\]: must have one expert per level/],
  ['path expert of wrong level', (m) => { m.router.paths[1] = ['L1.1', 'L1.1']; }, /router\.paths\[1\]\[0\]: "L1\.1" is not an expert of level L0/],
  ['expert on no path', (m) => { m.router.paths[2] = ['L0.0', 'L1.0']; }, /expert L1\.2 is on no path/],
  ['featurizer type', (m) => { m.router.featurizer.type = 'x'; }, /router\.featurizer\.type/],
  ['classifier rows', (m) => { m.router.classifier = { weights: [[1, 0, 0, 0]], bias: [0, 0, 0] }; }, /router\.classifier\.weights: must have 3 rows/],
  ['classifier bias', (m) => { m.router.classifier = { weights: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], bias: [0] }; }, /router\.classifier\.bias: must have 3 numbers/],
  ['classifier width', (m) => { m.router.classifier = { weights: [[1, 0, 0, 0], [0, 1, 0], [0, 0, 1, 0]], bias: [0, 0, 0] }; }, /router\.classifier\.weights\[1\]: must have 4 numbers/],
  ['eval heldout ref', (m) => { m.eval.heldout.sha256 = SHA.slice(1); }, /eval\.heldout\.sha256/],
  ['dense layers', (m) => { m.eval.dense.layers = 0; }, /eval\.dense\.layers/],
  ['NaN in centroid', (m) => { m.router.centroids[0][0] = 'x'; }, /router\.centroids\[0\]\[0\]: must be a finite number/],
];

for (const [what, mutate, want] of cases) {
  test(`refuses: ${what}`, () => {
    let m = base();
    mutate(m);
    if (m.__replace !== undefined) m = m.__replace;
    assert.throws(() => validateManifest(m), (err: unknown) => {
      assert.ok(err instanceof BadPackageError, `BadPackageError, got ${String(err)}`);
      assert.equal(err.code, 'BAD_PACKAGE');
      assert.match(err.message, want);
      return true;
    });
  });
}
