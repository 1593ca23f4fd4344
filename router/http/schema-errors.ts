/**
 * From zod's issues to the API's 400: one BadFieldError naming the field path as clients write it
 * (`messages[0].content`, `logit_bias.300`) with a short message. `issueMessage` is the per-parse
 * error map for issues whose schema sets no message of its own. Pure.
 */
import type { z } from 'zod';
import { BadFieldError } from './errors.ts';

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

/** `['messages', 0, 'content']` → `messages[0].content`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** The first issue of a failed parse as a 400 naming its field. */
export function badFieldFrom(error: z.ZodError): BadFieldError {
  const { path, issue } = innermost([], error.issues[0]);
  if (issue.code === 'unrecognized_keys') {
    return new BadFieldError(fieldPath([...path, issue.keys[0]]), 'is not a supported field (see the API section of router/README.md)');
  }
  return new BadFieldError(fieldPath(path) || 'body', issue.message);
}

/**
 * A record key's issue stands for the key's own issue. A union's issue stands for the issue of the one option whose type matched (e.g. an array given
 * where a string or an array of parts is allowed, with a bad part), when exactly one did; otherwise
 * for itself (its own message then says what the field may be).
 */
function innermost(prefix: readonly PropertyKey[], issue: Issue): { path: PropertyKey[]; issue: Issue } {
  const path = [...prefix, ...issue.path];
  // A record key's own issue carries the message (the key is already the last path element).
  if (issue.code === 'invalid_key' && issue.issues.length > 0) return { path, issue: { ...issue.issues[0], path } };
  if (issue.code !== 'invalid_union') return { path, issue };
  const matched = issue.errors.filter((branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0));
  if (matched.length !== 1 || matched[0].length === 0) return { path, issue };
  return innermost(path, matched[0][0]);
}

/** Default messages, for issues whose schema has none of its own (per-parse error map). */
export function issueMessage(iss: RawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      return iss.input === undefined ? 'is required' : `must be ${typeName(iss.expected)}`;
    case 'too_small':
      if (iss.origin === 'array' || iss.origin === 'set') return `must have at least ${iss.minimum} item${iss.minimum === 1 ? '' : 's'}`;
      if (iss.origin === 'string') return `must have at least ${iss.minimum} character${iss.minimum === 1 ? '' : 's'}`;
      return `must be ${iss.inclusive ? 'at least' : 'greater than'} ${iss.minimum}; got ${show(iss.input)}`;
    case 'too_big':
      if (iss.origin === 'array' || iss.origin === 'set') return `must have at most ${iss.maximum} item${iss.maximum === 1 ? '' : 's'}`;
      if (iss.origin === 'string') return `must have at most ${iss.maximum} characters`;
      return `must be ${iss.inclusive ? 'at most' : 'less than'} ${iss.maximum}; got ${show(iss.input)}`;
    case 'invalid_value':
      return `must be ${iss.values.length === 1 ? '' : 'one of '}${iss.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return undefined;
  }
}

function typeName(expected: string): string {
  const names: Record<string, string> = {
    int: 'an integer', number: 'a number', string: 'a string', boolean: 'a boolean', object: 'an object',
    array: 'an array', tuple: 'an array', record: 'an object', null: 'null',
  };
  return names[expected] ?? expected;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
