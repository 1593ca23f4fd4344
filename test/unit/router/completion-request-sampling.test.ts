/**
 * Validation of the sampling-parity fields (n, penalties, logit_bias, top_k, min_p, logprobs, echo,
 * stream_options) and of fields this router does not implement: every bad value is a 400 whose
 * `param` names the field; good values reach CompletionParams.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { parseChat, parseCompletion, parseRoute } from '../../../router/http/completion-request.ts';
import { errorResponse } from '../../../router/http/errors.ts';
import { SwarmpathError } from '../../../shared/errors.ts';

const ctx = { modelName: 'toy', maxContext: 64, encode: (t: string) => new TextEncoder().encode(t) };
const msgs = [{ role: 'user', content: 'hi' }];

/** The 400 of a body, or a failure naming what was accepted. */
function rejection(fn: () => unknown): { param: string | null; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SwarmpathError, String(err));
    const r = errorResponse(err);
    assert.equal(r.status, 400, r.body.error.message);
    return { param: r.body.error.param, message: r.body.error.message };
  }
  assert.fail('accepted');
}

const completionCases: [Record<string, unknown>, string][] = [
  [{ n: 0 }, 'n'], [{ n: 9 }, 'n'], [{ n: 1.5 }, 'n'], [{ n: '2' }, 'n'],
  [{ frequency_penalty: 2.5 }, 'frequency_penalty'], [{ frequency_penalty: -3 }, 'frequency_penalty'], [{ frequency_penalty: 'x' }, 'frequency_penalty'],
  [{ presence_penalty: 2.01 }, 'presence_penalty'], [{ presence_penalty: true }, 'presence_penalty'],
  [{ logit_bias: [1] }, 'logit_bias'], [{ logit_bias: 'x' }, 'logit_bias'],
  [{ logit_bias: { 65: 101 } }, 'logit_bias.65'], [{ logit_bias: { 65: -100.5 } }, 'logit_bias.65'], [{ logit_bias: { 65: '1' } }, 'logit_bias.65'],
  [{ logit_bias: { abc: 1 } }, 'logit_bias.abc'], [{ logit_bias: { '-1': 1 } }, 'logit_bias.-1'], [{ logit_bias: { '01': 1 } }, 'logit_bias.01'],
  [{ logit_bias: { 256: 1 } }, 'logit_bias.256'],
  [{ logit_bias: Object.fromEntries(Array.from({ length: 256 }, (_, i) => [i, -100])) }, 'logit_bias'],
  [{ top_k: -2 }, 'top_k'], [{ top_k: 1.5 }, 'top_k'],
  [{ min_p: -0.1 }, 'min_p'], [{ min_p: 1.1 }, 'min_p'],
  [{ repetition_penalty: 0 }, 'repetition_penalty'], [{ repetition_penalty: 2.5 }, 'repetition_penalty'], [{ repetition_penalty: -1 }, 'repetition_penalty'],
  [{ logprobs: 6 }, 'logprobs'], [{ logprobs: -1 }, 'logprobs'], [{ logprobs: true }, 'logprobs'], [{ logprobs: 1.5 }, 'logprobs'],
  [{ echo: 'yes' }, 'echo'],
  [{ stream_options: { include_usage: true } }, 'stream_options'],
  [{ stream: true, stream_options: { include_usage: 'yes' } }, 'stream_options.include_usage'],
  [{ stream: true, stream_options: { continuous_usage_stats: true } }, 'stream_options.continuous_usage_stats'],
  [{ stream: true, stream_options: 1 }, 'stream_options'],
  [{ best_of: 2 }, 'best_of'], [{ n: 2, best_of: 3 }, 'best_of'], [{ best_of: 0 }, 'best_of'],
  [{ suffix: 'def f():' }, 'suffix'],
  [{ user: 5 }, 'user'],
  [{ tools: [] }, 'tools'], [{ guided_json: {} }, 'guided_json'], [{ ignore_eos: true }, 'ignore_eos'],
  [{ response_format: { type: 'text' } }, 'response_format'],
  [{ top_logprobs: 2 }, 'top_logprobs'],
];

const chatCases: [Record<string, unknown>, string][] = [
  [{ logprobs: 3 }, 'logprobs'], [{ logprobs: 'true' }, 'logprobs'],
  [{ top_logprobs: 2 }, 'top_logprobs'], [{ logprobs: false, top_logprobs: 2 }, 'top_logprobs'],
  [{ logprobs: true, top_logprobs: 21 }, 'top_logprobs'], [{ logprobs: true, top_logprobs: -1 }, 'top_logprobs'],
  [{ echo: true }, 'echo'], [{ best_of: 1 }, 'best_of'], [{ suffix: '' }, 'suffix'],
  [{ tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools'],
  [{ functions: [{ name: 'f' }] }, 'functions'], [{ function_call: 'auto' }, 'function_call'],
  [{ tool_choice: 'auto' }, 'tool_choice'], [{ tool_choice: { type: 'function' } }, 'tool_choice'],
  [{ response_format: { type: 'json_object' } }, 'response_format.type'],
  [{ response_format: { type: 'text', schema: {} } }, 'response_format.schema'],
  [{ store: true }, 'store'], [{ metadata: { a: 1 } }, 'metadata.a'], [{ parallel_tool_calls: 'no' }, 'parallel_tool_calls'],
  [{ audio: { voice: 'x' } }, 'audio'], [{ modalities: ['text'] }, 'modalities'],
  [{ max_completion_tokens: 0 }, 'max_completion_tokens'],
  [{ n: 12 }, 'n'], [{ top_k: 'many' }, 'top_k'],
  [{ messages: [{ role: 'user', content: null }] }, 'messages[0].content'],
  [{ messages: [{ role: 'assistant', content: 'x', tool_calls: [{ id: '1' }] }] }, 'messages[0].tool_calls'],
  [{ messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] }, 'messages[0].content[0].text'],
];

describe('new fields: every bad value is a 400 naming the field', () => {
  it('completions', () => {
    for (const [extra, param] of completionCases) {
      const r = rejection(() => parseCompletion({ prompt: 'hi', ...extra }, ctx));
      assert.equal(r.param, param, `${JSON.stringify(extra).slice(0, 60)}: ${r.message}`);
      assert.ok(r.message.startsWith(`${param}: `), r.message);
    }
  });

  it('chat completions', () => {
    for (const [extra, param] of chatCases) {
      const r = rejection(() => parseChat({ messages: msgs, ...extra }, ctx));
      assert.equal(r.param, param, `${JSON.stringify(extra).slice(0, 60)}: ${r.message}`);
    }
  });

  it('messages say what is wrong', () => {
    assert.match(rejection(() => parseCompletion({ prompt: 'hi', frequency_penalty: 3 }, ctx)).message, /at most 2; got 3/);
    assert.match(rejection(() => parseCompletion({ prompt: 'hi', n: 9 }, ctx)).message, /at most 8 choices/);
    assert.match(rejection(() => parseCompletion({ prompt: 'hi', logit_bias: { 300: 1 } }, ctx)).message, /0\.\.255/);
    assert.match(rejection(() => parseCompletion({ prompt: 'hi', ignore_eos: true }, ctx)).message, /not a supported field/);
    assert.match(rejection(() => parseChat({ messages: msgs, top_logprobs: 1 }, ctx)).message, /requires "logprobs": true/);
    assert.match(rejection(() => parseCompletion({ prompt: 'hi', n: 'x' }, ctx)).message, /must be a number/);
    assert.match(rejection(() => parseCompletion({ prompt: 'hi', n: 2.5 }, ctx)).message, /must be an integer/);
    assert.match(rejection(() => parseCompletion({ prompt: 'hi', logit_bias: { x1: 2 } }, ctx)).message, /keys must be token ids/);
    assert.match(rejection(() => parseCompletion({ prompt: 'hi', suffix: 'x' }, ctx)).message, /suffix: is not supported/);
    assert.match(rejection(() => parseChat({ messages: msgs, tools: [{}] }, ctx)).message, /tools are not supported/);
  });
});

describe('good values reach the request', () => {
  it('completions: sampling parity fields', () => {
    const p = parseCompletion({
      prompt: 'hi', n: 3, best_of: 3, frequency_penalty: -0.5, presence_penalty: 1.5, logit_bias: { 65: 5, 0: -100 },
      top_k: 7, min_p: 0.05, repetition_penalty: 1.3, logprobs: 2, echo: true, stream: true,
      stream_options: { include_usage: true }, suffix: null, user: 'u',
    }, ctx);
    assert.equal(p.n, 3);
    assert.deepEqual({ ...p.processing, logitBias: [...p.processing.logitBias] }, {
      logitBias: [[0, -100], [65, 5]], repetitionPenalty: 1.3, frequencyPenalty: -0.5, presencePenalty: 1.5, topK: 7, minP: 0.05,
    });
    assert.deepEqual([p.logprobs, p.echo, p.includeUsage, p.stream], [2, true, true, true]);
  });

  it('defaults: one choice, no processing, no log-probabilities; top_k -1 and 0 are off', () => {
    const p = parseCompletion({ prompt: 'hi', top_k: -1, logprobs: null, echo: null, n: null }, ctx);
    assert.deepEqual([p.n, p.logprobs, p.echo, p.includeUsage, p.processing.topK, p.processing.logitBias.size], [1, undefined, false, false, 0, 0]);
    assert.equal(parseCompletion({ prompt: 'hi', logprobs: 0 }, ctx).logprobs, 0);
    assert.equal(parseCompletion({ prompt: 'hi', top_k: 0 }, ctx).processing.topK, 0);
  });

  it('chat: logprobs + top_logprobs, and the harmless fields it accepts', () => {
    const p = parseChat({
      messages: [...msgs, { role: 'assistant', content: null, refusal: null, name: 'bot' }, { role: 'tool', content: 'x', tool_call_id: 't' }],
      logprobs: true, top_logprobs: 4, metadata: { k: 'v' }, store: false, response_format: { type: 'text' },
      tool_choice: 'none', parallel_tool_calls: false, tools: null, user: 'u', n: 2,
    }, ctx);
    assert.deepEqual([p.logprobs, p.n, p.echo], [4, 2, false]);
    assert.equal(p.prompt, 'user: hi\nassistant: \ntool: x\nassistant: ');
    assert.equal(parseChat({ messages: msgs, logprobs: true }, ctx).logprobs, 0);
    assert.equal(parseChat({ messages: msgs, logprobs: false }, ctx).logprobs, undefined);
  });
});

describe('/v1/route body', () => {
  it('needs a string prompt and ignores other fields', () => {
    assert.deepEqual(parseRoute({ prompt: 'x', model: 'any' }), { prompt: 'x', model: 'any' });
    assert.equal(rejection(() => parseRoute({})).param, 'prompt');
    assert.equal(rejection(() => parseRoute({ prompt: 3 })).param, 'prompt');
  });
});
