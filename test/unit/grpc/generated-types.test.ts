/** generated/proto is what scripts/gen-proto.ts makes of the .proto now: a changed .proto without `npm run gen:proto` fails here. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { generateProtoTypes, walk } from '../../../scripts/gen-proto.ts';

const committed = join(import.meta.dirname, '..', '..', '..', 'generated', 'proto');
const fresh = mkdtempSync(join(tmpdir(), 'gen-proto-test-'));
afterAll(() => rmSync(fresh, { recursive: true, force: true }));

test('generated/proto matches the .proto (run `npm run gen:proto` after changing it)', () => {
  generateProtoTypes(fresh);
  const files = (dir: string) => [...walk(dir)].map((f) => relative(dir, f));
  expect(files(committed)).toEqual(files(fresh));
  for (const f of files(fresh)) expect(readFileSync(join(committed, f), 'utf8'), f).toBe(readFileSync(join(fresh, f), 'utf8'));
  // Each message the code names has a generated type.
  expect(files(fresh)).toEqual(expect.arrayContaining(['swarmpath/v1/Tensor.ts', 'swarmpath/v1/SessionRequest.ts', 'swarmpath/v1/InfoResponse.ts']));
});
