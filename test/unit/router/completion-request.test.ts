import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { parseChat, parseCompletion } from '../../../router/http/completion-request.ts';
import { SwarmpathError } from '../../../shared/errors.ts';

const ctx = { modelName: 'toy', maxContext: 32, encode: (t: string) => new TextEncoder().encode(t) };
const bad = (fn: () => unknown, status: number, param?: string) =>
  assert.throws(fn, (e: unknown) => e instanceof SwarmpathError && e.http === status &&
    (param === undefined || (e as { param?: string }).param === param));

describe('completion request validation', () => {
  it('accepts a minimal body with defaults', () => {
    const p = parseCompletion({ prompt: 'hello' }, ctx);
    assert.equal(p.model, 'toy');
    assert.equal(p.maxTokens, 16);
    assert.equal(p.temperature, 1);
    assert.equal(p.topP, 1);
    assert.equal(p.seed, undefined);
    assert.equal(p.stream, false);
    assert.deepEqual(p.stop, []);
    assert.deepEqual([...p.promptTokens], [...new TextEncoder().encode('hello')]);
  });
  it('caps the default max_tokens by the context', () => {
    assert.equal(parseCompletion({ prompt: 'x'.repeat(30) }, ctx).maxTokens, 2);
  });
  it('takes every field', () => {
    const p = parseCompletion({ model: 'toy', prompt: ['hi'], max_tokens: 30, temperature: 0, top_p: 0.5, seed: -3, stop: 'x', stream: true, user: 'u' }, ctx);
    assert.deepEqual([p.maxTokens, p.temperature, p.topP, p.seed, p.stop, p.stream], [30, 0, 0.5, -3, ['x'], true]);
  });
  it('rejects bad fields with 400 naming the field', () => {
    bad(() => parseCompletion({}, ctx), 400, 'prompt');
    bad(() => parseCompletion({ prompt: 3 }, ctx), 400, 'prompt');
    bad(() => parseCompletion({ prompt: '' }, ctx), 400, 'prompt');
    bad(() => parseCompletion({ prompt: 'x'.repeat(32) }, ctx), 400, 'prompt');
    bad(() => parseCompletion({ prompt: 'hi', max_tokens: -1 }, ctx), 400, 'max_tokens');
    bad(() => parseCompletion({ prompt: 'hi', max_tokens: 0 }, ctx), 400, 'max_tokens');
    bad(() => parseCompletion({ prompt: 'hi', max_tokens: 1.5 }, ctx), 400, 'max_tokens');
    bad(() => parseCompletion({ prompt: 'hi', max_tokens: '5' }, ctx), 400, 'max_tokens');
    bad(() => parseCompletion({ prompt: 'hi', max_tokens: 31 }, ctx), 400, 'max_tokens');
    bad(() => parseCompletion({ prompt: 'hi', max_tokens: 1e12 }, ctx), 400, 'max_tokens');
    bad(() => parseCompletion({ prompt: 'hi', temperature: 'hot' }, ctx), 400, 'temperature');
    bad(() => parseCompletion({ prompt: 'hi', temperature: 3 }, ctx), 400, 'temperature');
    bad(() => parseCompletion({ prompt: 'hi', top_p: 0 }, ctx), 400, 'top_p');
    bad(() => parseCompletion({ prompt: 'hi', seed: 1.5 }, ctx), 400, 'seed');
    bad(() => parseCompletion({ prompt: 'hi', stop: [1] }, ctx), 400, 'stop[0]');
    bad(() => parseCompletion({ prompt: 'hi', stop: ['a', 'b', 'c', 'd', 'e'] }, ctx), 400, 'stop');
    bad(() => parseCompletion({ prompt: 'hi', stream: 'yes' }, ctx), 400, 'stream');
    bad(() => parseCompletion({ prompt: 'hi', n: 9 }, ctx), 400, 'n');
    bad(() => parseCompletion({ prompt: 'hi', model: 7 }, ctx), 400, 'model');
  });
  it('answers 404 for an unknown model', () => {
    bad(() => parseCompletion({ prompt: 'hi', model: 'gpt-4' }, ctx), 404);
  });
});

describe('chat request validation', () => {
  it('renders messages and adds the turn stops', () => {
    const p = parseChat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }], stop: ['.'] }, ctx);
    assert.equal(p.prompt, 'user: Hi\nassistant: ');
    assert.deepEqual(p.stop, ['.', '\nuser:', '\nsystem:']);
    assert.equal(p.maxTokens, 32 - p.promptTokens.length);
  });
  it('rejects missing or bad messages', () => {
    bad(() => parseChat({}, ctx), 400, 'messages');
    bad(() => parseChat({ messages: [] }, ctx), 400, 'messages');
    bad(() => parseChat({ messages: 'hi' }, ctx), 400, 'messages');
    bad(() => parseChat({ messages: [{ role: 'wizard', content: 'x' }] }, ctx), 400, 'messages[0].role');
    bad(() => parseChat({ messages: [{ role: 'user', content: 5 }] }, ctx), 400, 'messages[0].content');
    bad(() => parseChat({ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }, ctx), 400, 'messages[0].content[0].type');
    bad(() => parseChat({ messages: [null] }, ctx), 400, 'messages[0]');
  });
});
