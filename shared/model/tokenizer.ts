/**
 * Tokenizer `bytes/1`: a token is one UTF-8 byte (0..255). Decoding is incremental and never splits
 * a character: bytes of an incomplete sequence are held back until it completes (or until `flush`).
 */
import { TextDecoder } from 'node:util';

const encoder = new TextEncoder();

/** The tokens of `text`: its UTF-8 bytes. */
export function encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Text of complete byte sequences (invalid bytes become U+FFFD). */
export function decode(tokens: ArrayLike<number>): string {
  return new TextDecoder('utf-8').decode(Uint8Array.from(tokens));
}

/** Streams tokens to text; `push` returns only whole characters, holding back a partial one. */
export interface StreamDecoder {
  /** Adds tokens (bytes), returns the text they complete (maybe ''). */
  push(tokens: number | ArrayLike<number>): string;
  /** Ends the stream: held-back bytes of an incomplete sequence come out as U+FFFD. */
  flush(): string;
}

/** A new incremental UTF-8 decoder (WHATWG TextDecoder in streaming mode). */
export function createStreamDecoder(): StreamDecoder {
  const d = new TextDecoder('utf-8');
  const one = new Uint8Array(1);
  return {
    push(tokens) {
      if (typeof tokens === 'number') { one[0] = tokens; return d.decode(one, { stream: true }); }
      return d.decode(Uint8Array.from(tokens), { stream: true });
    },
    flush: () => d.decode(),
  };
}
