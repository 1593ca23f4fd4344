import { describe, expect, expectTypeOf, it } from 'vitest';
import { parseFlags, type FlagSpecs } from '../../../shared/cli-args.ts';

const SPEC = {
  name: { kind: 'string', help: 'a name' },
  mode: { kind: 'string', help: 'a mode', choices: ['a', 'b'], default: 'a' },
  n: { kind: 'int', help: 'a count', default: 3 },
  rate: { kind: 'number', help: 'a rate' },
  tag: { kind: 'list', help: 'tags' },
  dht: { kind: 'boolean', help: 'join the DHT', default: true },
} as const satisfies FlagSpecs;

describe('parseFlags types', () => {
  it('types each flag from its spec: defaults make it required, choices narrow strings', () => {
    const { flags } = parseFlags(['--name', 'x', '--mode', 'b', '--tag', 't1', '--tag=t2', '--no-dht'], SPEC, {});
    expectTypeOf(flags.name).toEqualTypeOf<string | undefined>();
    expectTypeOf(flags.mode).toEqualTypeOf<'a' | 'b'>();
    expectTypeOf(flags.n).toEqualTypeOf<number>();
    expectTypeOf(flags.rate).toEqualTypeOf<number | undefined>();
    expectTypeOf(flags.tag).toEqualTypeOf<string[] | undefined>();
    expectTypeOf(flags.dht).toEqualTypeOf<boolean>();
    expect(flags).toEqual({ name: 'x', mode: 'b', n: 3, tag: ['t1', 't2'], dht: false });
  });
});
