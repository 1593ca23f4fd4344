/**
 * Reads a server-sent-events body (the router's streamed completions) as the `data:` payload of each
 * event, in order, `[DONE]` included. Throws on an event that is not `data: …`.
 */
export async function* sseData(body: ReadableStream<Uint8Array> | null): AsyncGenerator<string> {
  if (!body) throw new Error('no response body');
  const dec = new TextDecoder();
  let buf = '';
  for await (const part of body as unknown as AsyncIterable<Uint8Array>) {
    buf += dec.decode(part, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ')) throw new Error(`not a data event: ${JSON.stringify(ev)}`);
      yield ev.slice(6);
    }
  }
}
