/**
 * Bits of a byte sequence under next-token logits: the sum over scored positions t of
 * -log2 softmax(logits[t-1])[tokens[t]], in float64. Allocation-free over a [T,V] logits buffer.
 */

/** Sum of -log2 p(tokens[t] | tokens[<t]) for t in [from, T), from the rows of `logits` ([T,V]). */
export function sequenceBits(logits: Float32Array, V: number, tokens: ArrayLike<number>, from: number): number {
  let bits = 0;
  for (let t = Math.max(1, from); t < tokens.length; t++) {
    const off = (t - 1) * V;
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (logits[off + i] > max) max = logits[off + i];
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(logits[off + i] - max);
    const logp = logits[off + tokens[t]] - max - Math.log(sum);
    bits -= logp / Math.LN2;
  }
  return bits;
}
