/**
 * Synthetic held-out text for synth packages: a few domains with distinct byte statistics (code,
 * prose, tabular data), generated from a seed. Only for tests and benchmarks of the pipeline.
 */
import type { Rng } from './rng.ts';

export const SYNTH_DOMAINS = ['code', 'prose', 'data'] as const;

const CODE = ['def ', 'return ', 'self.', 'import ', 'for i in range(n):', 'if x is None:', '    ', '()', '[]', ' = ', '\n', 'print(', 'lambda ', ': ', 'class ', 'yield '];
const PROSE = ['the ', 'and ', 'of ', 'river ', 'morning ', 'she ', 'walked ', 'quietly ', 'through ', 'a ', 'garden ', 'was ', 'in ', 'light ', 'old ', 'house ', '. ', ', '];
const DATA = ['2024-01-', ',', '0.', '17', '42', '99', ';', 'id=', '|', '\n', '3', '8', '5', 'NaN', 'TRUE', 'x'];

/** One document of `domain` with about `bytes` bytes. */
export function synthDoc(domain: string, bytes: number, rng: Rng): string {
  const words = domain === 'code' ? CODE : domain === 'prose' ? PROSE : DATA;
  let s = '';
  while (s.length < bytes) s += words[rng.int(words.length)];
  return s;
}
