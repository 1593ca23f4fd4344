import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../shared/log.ts';

function capture(level?: 'debug' | 'info' | 'warn' | 'error') {
  const lines: string[] = [];
  const log = createLogger('host', { level, write: (l) => lines.push(l) });
  return { log, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), lines };
}

describe('logger (pino, JSON lines)', () => {
  it('writes one JSON object per line with level, time, component, msg and the fields', () => {
    const { log, records, lines } = capture();
    log.info('hello "world"', { expert: 'L0.1', n: 3 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    const [r] = records();
    expect(r).toMatchObject({ level: 'info', component: 'host', msg: 'hello "world"', expert: 'L0.1', n: 3 });
    expect(Number.isNaN(Date.parse(String(r.time)))).toBe(false);
  });

  it('keeps the stack and type of an Error in any field, and its cause', () => {
    const { log, records } = capture();
    const cause = new TypeError('inner');
    log.error('publish failed', { err: new Error('outer', { cause }), other: new RangeError('second') });
    const [r] = records();
    const err = r.err as Record<string, unknown>;
    expect(err.type).toBe('Error');
    expect(err.message).toContain('outer');
    expect(String(err.stack)).toMatch(/^Error: outer\n\s+at /);
    const other = r.other as Record<string, unknown>;
    expect(other.type).toBe('RangeError');
    expect(String(other.stack)).toMatch(/^RangeError: second\n\s+at /);
  });

  it('names children by path, once', () => {
    const { log, lines } = capture();
    log.child('dht').child('kad').warn('slow');
    expect(lines[0].match(/"component"/g)).toHaveLength(1);
    expect(JSON.parse(lines[0]).component).toBe('host/dht/kad');
  });

  it('drops levels below the configured one', () => {
    const { log, records } = capture('warn');
    log.debug('d'); log.info('i'); log.warn('w'); log.error('e');
    expect(records().map((r) => r.level)).toEqual(['warn', 'error']);
  });

  it('writes bigints as strings instead of failing', () => {
    const { log, records } = capture();
    log.info('big', { bytes: 2n ** 70n });
    expect(records()[0].bytes).toBe(String(2n ** 70n));
  });

  it("carries the process name a supervisor gives (SWARMPATH_PROCESS) as proc", () => {
    process.env.SWARMPATH_PROCESS = 'host 2';
    try {
      const { log, records } = capture();
      log.info('x');
      expect(records()[0].proc).toBe('host 2');
    } finally {
      delete process.env.SWARMPATH_PROCESS;
    }
    const { log, records } = capture();
    log.info('y');
    expect(records()[0]).not.toHaveProperty('proc');
  });
});
