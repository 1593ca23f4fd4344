/**
 * A small random-weight model package for tests, built once per process per option set in
 * os.tmpdir() and removed when the process exits.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthPackage } from '../../shared/model/synth.ts';
import type { SynthOptions } from '../../shared/model/synth.ts';

export type SynthFixtureOptions = Omit<SynthOptions, 'out' | 'log'>;

const built = new Map<string, Promise<string>>();
const dirs: string[] = [];
let hooked = false;

/** Folder of a package built with `opts` (defaults: d_model 64, 4 heads, 1 layer, levels 2,2, seed 1). */
export function synthFixture(opts: SynthFixtureOptions = {}): Promise<string> {
  const key = JSON.stringify(opts, Object.keys(opts).sort());
  let p = built.get(key);
  if (!p) {
    const dir = join(tmpdir(), `swarmpath-synth-${process.pid}-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`);
    dirs.push(dir);
    if (!hooked) {
      hooked = true;
      process.on('exit', () => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
    }
    p = synthPackage({ ...opts, out: dir }).then(() => dir);
    built.set(key, p);
  }
  return p;
}
