/**
 * One HTTP request from this unit to another, over node:http: the unit-to-unit protocol, joining
 * a site. Not fetch: Node's fetch is undici, whose first use loads its own HTTP stack (a
 * WebAssembly parser, web streams) into the service: ~10 MiB more resident for every unit, the
 * tenth of its memory budget, to make the same few small JSON requests the HTTP server's parser
 * can read.
 */
import http from 'node:http';

export interface HttpRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** The whole exchange (connecting, sending, the answer's last byte) ends by then. */
  timeoutMs: number;
  /** A longer answer is refused (a unit's answers are a few KiB). */
  maxAnswerBytes?: number;
}

export interface HttpAnswer {
  status: number;
  /** 2xx */
  ok: boolean;
  headers: { get(name: string): string | null };
  text: string;
}

const DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * Connections kept open between requests to the same unit, closed after 4 s idle: before the
 * other unit's server closes them (5 s), so a request is never sent on a connection being closed.
 */
const agent = new http.Agent({ keepAlive: true, timeout: 4_000, maxSockets: 8 });

/** @throws Error (a message for people) when there is no answer: refused, timed out, not HTTP, too long. */
export function httpRequest(url: string | URL, request: HttpRequest): Promise<HttpAnswer> {
  const target = typeof url === 'string' ? new URL(url) : url;
  if (target.protocol !== 'http:') return Promise.reject(new Error(`not an http: address: ${target.protocol}`));
  const maxAnswerBytes = request.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  const headers: Record<string, string | number> = { ...request.headers };
  if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | null, answer?: HttpAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        outgoing.destroy();
        reject(error);
      } else {
        resolve(answer!);
      }
    };
    const outgoing = http.request(target, { method: request.method ?? 'GET', headers, agent }, (incoming) => {
      const chunks: Buffer[] = [];
      let length = 0;
      incoming.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > maxAnswerBytes) {
          finish(new Error(`the answer is longer than ${maxAnswerBytes} bytes`));
          incoming.destroy();
          return;
        }
        chunks.push(chunk);
      });
      incoming.on('error', (error) => finish(error));
      incoming.on('aborted', () => finish(new Error('the answer was cut off')));
      incoming.on('end', () => {
        const status = incoming.statusCode ?? 0;
        const answerHeaders = incoming.headers;
        finish(null, {
          status,
          ok: status >= 200 && status < 300,
          headers: {
            get(name: string) {
              const value = answerHeaders[name.toLowerCase()];
              return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
            },
          },
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    const timer = setTimeout(() => finish(new Error(`no answer within ${request.timeoutMs} ms`)), request.timeoutMs);
    outgoing.on('error', (error) => finish(error));
    outgoing.end(request.body);
  });
}
