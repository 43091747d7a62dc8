/**
 * A recording, throttling HTTP proxy in front of the local Cosmos DB server: it lists the
 * requests a store makes (to show which calls are point reads) and can answer chosen
 * requests with 429 "request rate is large", as Cosmos DB does when throttling.
 */
import { Agent, createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request that went through the proxy. */
export interface RecordedRequest {
  method: string;
  path: string;
  /** `query`, `batch` (bulk), `upsert`, or `plain` (point reads, creates, replaces, deletes). */
  kind: 'query' | 'batch' | 'upsert' | 'plain';
  throttled: boolean;
}

/** A running proxy. */
export interface CosmosProxy {
  endpoint: string;
  requests: RecordedRequest[];
  /** Decides which requests get a 429 (none by default). */
  throttle: (req: RecordedRequest) => boolean;
  close(): Promise<void>;
}

function kindOf(req: IncomingMessage): RecordedRequest['kind'] {
  const h = req.headers;
  if (h['x-ms-documentdb-isquery'] === 'true' || h['content-type'] === 'application/query+json')
    return 'query';
  if (h['x-ms-cosmos-is-batch-request'] === 'true') return 'batch';
  if (h['x-ms-documentdb-is-upsert'] === 'true') return 'upsert';
  return 'plain';
}

/** Starts a proxy to `target` (an http:// endpoint) on a free port. */
export async function startCosmosProxy(target: string): Promise<CosmosProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const proxy: CosmosProxy = {
    endpoint: '',
    requests: [],
    throttle: () => false,
    close: async () => {},
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        kind: kindOf(req),
        throttled: false,
      };
      recorded.throttled = proxy.throttle(recorded);
      proxy.requests.push(recorded);
      if (recorded.throttled) {
        res.writeHead(429, { 'content-type': 'application/json', 'x-ms-retry-after-ms': '5' });
        res.end(JSON.stringify({ code: 'TooManyRequests', message: 'Request rate is large' }));
        return;
      }
      const forward = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
          agent,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      agent.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
