/**
 * Sends an HTTP request to a node:http server over an in-memory socket pair (no port), like
 * fastify's inject(): the server's own parser and writer run, nothing listens. `injectRaw` writes
 * bytes as they are and reads the raw answer (for what node's parser refuses).
 */
import http from 'node:http';
import { duplexPair } from 'node:stream';

export interface Injected {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json(): any;
  /** `data:` payloads of a server-sent events body. */
  events(): string[];
}

export interface InjectOpts {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string as is. */
  body?: unknown;
  /** Called with each chunk of the response body; return true to hang up there. */
  onChunk?(chunk: string): boolean | void;
  /** Sends only this much of the body (its full length declared) and never the rest. */
  partialBody?: number;
}

export function inject(server: http.Server, o: InjectOpts): Promise<Injected> {
  const [client, serverSide] = duplexPair();
  server.emit('connection', serverSide);
  const payload = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      method: o.method ?? (payload === undefined ? 'GET' : 'POST'), path: o.path, createConnection: () => client as never,
      headers: { ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}), ...o.headers },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (o.onChunk?.(c)) {
          client.destroy();
          serverSide.destroy();
          resolve(result(res, text));
        }
      });
      res.on('end', () => resolve(result(res, text)));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (o.partialBody !== undefined && payload !== undefined) req.write(payload.slice(0, o.partialBody));
    else req.end(payload);
  });
}

/**
 * Writes `bytes` to a new connection and resolves everything the server wrote once it closes the
 * connection. `after`: written once the server's first bytes arrived. `hold`: the client never
 * reads (the server's writes back up), and resolves with the bytes taken so far when the server
 * destroys the connection.
 */
export function injectRaw(server: http.Server, bytes: string | Buffer, o: { hold?: boolean; after?: string } = {}): Promise<string> {
  const [client, serverSide] = duplexPair();
  server.emit('connection', serverSide);
  return new Promise((resolve) => {
    let text = '';
    client.on('data', (c: Buffer) => {
      if (text === '' && o.after !== undefined && !client.destroyed) client.write(o.after);
      text += c.toString('latin1');
    });
    if (o.hold) client.pause();
    client.on('end', () => resolve(text));
    client.on('close', () => resolve(text));
    serverSide.on('close', () => { client.destroy(); resolve(text); });
    client.write(bytes);
  });
}

function result(res: http.IncomingMessage, text: string): Injected {
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    text,
    json: () => JSON.parse(text),
    events: () => text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => b.slice(6)),
  };
}
