// A real HTTP server on 127.0.0.1:0 serving a JWKS document, counting requests, for the
// remote-key tests (and as the "attacker" server a jku header points at).

import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONWebKeySet } from 'jose';

export interface JwksServer {
  readonly url: string;
  /** Requests received so far. */
  readonly requests: number;
  setKeys(jwks: JSONWebKeySet): void;
  /** Answer every request this way instead of with the keys (status, a redirect, or silence). */
  setBehaviour(behaviour: 'keys' | 'error' | 'hang' | { redirectTo: string }): void;
  close(): Promise<void>;
}

export async function startJwksServer(initial: JSONWebKeySet = { keys: [] }): Promise<JwksServer> {
  let jwks = initial;
  let requests = 0;
  let behaviour: Parameters<JwksServer['setBehaviour']>[0] = 'keys';
  const hanging = new Set<ServerResponse>();
  const server = createServer((_req, res) => {
    requests++;
    if (behaviour === 'hang') {
      hanging.add(res);
      return;
    }
    if (behaviour === 'error') {
      res.writeHead(500).end('boom');
      return;
    }
    if (typeof behaviour === 'object') {
      res.writeHead(302, { location: behaviour.redirectTo }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get requests() {
      return requests;
    },
    setKeys(next) {
      jwks = next;
    },
    setBehaviour(next) {
      behaviour = next;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
