import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { StopMatcher } from '../../../router/stop-matcher.ts';
import { CHAT_STOPS, renderChat } from '../../../router/chat-template.ts';

function run(stops: string[], pieces: string[]): { out: string[]; stopped: boolean } {
  const m = new StopMatcher(stops);
  const out: string[] = [];
  for (const p of pieces) {
    const r = m.push(p);
    if (r.text) out.push(r.text);
    if (r.type === 'stop') return { out, stopped: true };
  }
  const rest = m.flush();
  if (rest) out.push(rest);
  return { out, stopped: false };
}

describe('StopMatcher', () => {
  it('passes text through without stops', () => {
    assert.deepEqual(run([], ['ab', 'c']), { out: ['ab', 'c'], stopped: false });
  });
  it('cuts at a stop string split over pieces and drops it', () => {
    assert.deepEqual(run(['END'], ['abcE', 'N', 'Dxyz']), { out: ['abc'], stopped: true });
  });
  it('holds back a possible prefix, then releases it', () => {
    const m = new StopMatcher(['\nuser:']);
    assert.deepEqual(m.push('hi\nus'), { type: 'text', text: 'hi' });
    assert.deepEqual(m.push('ed'), { type: 'text', text: '\nused' });
    assert.equal(m.flush(), '');
  });
  it('stops at the earliest of several', () => {
    assert.deepEqual(run(['cd', 'b'], ['abcd']), { out: ['a'], stopped: true });
  });
  it('flushes a held prefix at the end', () => {
    assert.deepEqual(run(['xyz'], ['abx', 'y']), { out: ['ab', 'xy'], stopped: false });
  });
  it('the concatenation never contains a stop string (random)', () => {
    let s = 12345;
    const rnd = () => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s / 0x7fffffff; };
    for (let trial = 0; trial < 300; trial++) {
      const text = Array.from({ length: 40 }, () => 'ab\n'[Math.floor(rnd() * 3)]).join('');
      const stop = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => 'ab\n'[Math.floor(rnd() * 3)]).join('');
      const pieces: string[] = [];
      for (let i = 0; i < text.length;) { const n = 1 + Math.floor(rnd() * 4); pieces.push(text.slice(i, i + n)); i += n; }
      const r = run([stop], pieces);
      const joined = r.out.join('');
      const cut = text.indexOf(stop);
      assert.equal(joined, cut >= 0 ? text.slice(0, cut) : text);
      assert.equal(r.stopped, cut >= 0);
    }
  });
});

describe('chat template', () => {
  it('renders role lines and an open assistant turn', () => {
    assert.equal(renderChat([{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'Hi' }]),
      'system: Be terse.\nuser: Hi\nassistant: ');
    assert.deepEqual(CHAT_STOPS, ['\nuser:', '\nsystem:']);
  });
});
