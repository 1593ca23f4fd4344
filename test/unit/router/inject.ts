/**
 * Sends an HTTP request to a node:http server over an in-memory socket pair (no port), like
 * fastify's inject(): the server's own parser and writer run, nothing listens.
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
    req.end(payload);
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
