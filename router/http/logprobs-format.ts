/**
 * Log-probabilities in OpenAI's two shapes (pure): the legacy completions object
 * `{tokens, token_logprobs, top_logprobs, text_offset}` and chat's
 * `{content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], refusal}`.
 * A token is one byte (tokenizer `bytes/1`): its text is the character for ASCII and
 * `bytes:\xNN` for a byte of a multi-byte character (OpenAI's notation for a partial token); `bytes`
 * holds the byte itself.
 */
import type { TokenLogprob } from '../sampling/logprobs.ts';

/** The text of one byte token. */
export function tokenString(token: number): string {
  return token < 0x80 ? String.fromCharCode(token) : `bytes:\\x${token.toString(16).padStart(2, '0')}`;
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  /** Per position: the top alternatives and the chosen token (so up to `logprobs` + 1 keys), or null. */
  top_logprobs: (Record<string, number> | null)[];
  /** Where each token's text starts in the choice's text, in code points. */
  text_offset: number[];
}

/** The completions shape. */
export function completionLogprobs(entries: readonly TokenLogprob[]): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for (const e of entries) {
    out.tokens.push(tokenString(e.token));
    out.token_logprobs.push(e.logprob);
    out.text_offset.push(e.offset);
    if (e.top === null || e.logprob === null) { out.top_logprobs.push(null); continue; }
    const top: Record<string, number> = {};
    for (const t of e.top) top[tokenString(t.token)] = t.logprob;
    top[tokenString(e.token)] = e.logprob;
    out.top_logprobs.push(top);
  }
  return out;
}

export interface ChatTopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}
export interface ChatTokenLogprob extends ChatTopLogprob {
  top_logprobs: ChatTopLogprob[];
}

/** The chat shape (generated tokens only: every entry has a log-probability). */
export function chatLogprobs(entries: readonly TokenLogprob[]): { content: ChatTokenLogprob[]; refusal: null } {
  const content: ChatTokenLogprob[] = [];
  for (const e of entries) {
    if (e.logprob === null) continue;
    content.push({
      token: tokenString(e.token), logprob: e.logprob, bytes: [e.token],
      top_logprobs: (e.top ?? []).map((t) => ({ token: tokenString(t.token), logprob: t.logprob, bytes: [t.token] })),
    });
  }
  return { content, refusal: null };
}

/** Entries with `shift` added to their offsets. */
export function shifted(entries: readonly TokenLogprob[], shift: number): TokenLogprob[] {
  return shift === 0 ? [...entries] : entries.map((e) => ({ ...e, offset: e.offset + shift }));
}
