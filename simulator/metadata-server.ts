// A local stand-in for the CVM instance metadata service, for tests: serves one CAM role's
// temporary credentials at `latest/meta-data/cam/security-credentials/<role>`, issuing a fresh
// key (and telling the API simulator about it) before the current one expires.

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SimAccount } from './api-server.js';

export interface MetadataServerOptions {
  roleName?: string;
  /** Life of each temporary key (default 60 s); the service hands out a new one after half of it. */
  lifetimeMs?: number;
  /** Called with every key issued, so the API simulator can accept it (`simulator.addAccount`). */
  onIssue: (account: SimAccount) => void;
  /** The account the keys belong to (per-account limits). */
  uin?: string;
  now?: () => number;
}

export interface MetadataServer {
  /** Base URL ending in `/latest/meta-data/`, for TENCENTCLOUD_METADATA_URL. */
  readonly url: string;
  /** Every key issued, oldest first (secret ids; the whole account for the tests). */
  readonly issued: readonly SimAccount[];
  /** Credential requests served. */
  readonly requests: number;
  /** Answers 500 to the next `n` requests (a metadata hiccup). */
  failNext(n: number): void;
  close(): Promise<void>;
}

const PREFIX = '/latest/meta-data/cam/security-credentials/';

export async function startMetadataServer(options: MetadataServerOptions): Promise<MetadataServer> {
  const now = options.now ?? Date.now;
  const roleName = options.roleName ?? 'vnc-gateway-role';
  const lifetimeMs = options.lifetimeMs ?? 60_000;
  const issued: SimAccount[] = [];
  let requests = 0;
  let failures = 0;

  const current = (): SimAccount => {
    const last = issued.at(-1);
    if (last?.expiresAtMs !== undefined && now() < last.expiresAtMs - lifetimeMs / 2) return last;
    // ExpiredTime is whole seconds on the wire; the simulator expires the key at that instant.
    const expiresAtMs = Math.floor((now() + lifetimeMs) / 1000) * 1000;
    const account: SimAccount = {
      secretId: `AKIDtmp${randomBytes(12).toString('hex')}`,
      secretKey: randomBytes(16).toString('hex'),
      token: randomBytes(24).toString('base64url'),
      expiresAtMs,
      ...(options.uin ? { uin: options.uin } : {}),
    };
    issued.push(account);
    options.onIssue(account);
    return account;
  };

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://metadata.invalid').pathname;
    const send = (status: number, body: string, type = 'text/plain'): void => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'method not allowed');
    if (failures > 0) {
      failures--;
      return send(500, 'internal error');
    }
    if (path === PREFIX) return send(200, `${roleName}\n`);
    if (path === `${PREFIX}${roleName}`) {
      requests++;
      const key = current();
      const expiredTime = Math.floor((key.expiresAtMs ?? 0) / 1000);
      return send(
        200,
        JSON.stringify({
          TmpSecretId: key.secretId,
          TmpSecretKey: key.secretKey,
          Token: key.token,
          ExpiredTime: expiredTime,
          Expiration: new Date(expiredTime * 1000).toISOString(),
          Code: 'Success',
        }),
        'application/json',
      );
    }
    return send(404, 'not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/latest/meta-data/`,
    issued,
    get requests() {
      return requests;
    },
    failNext(n) {
      failures += n;
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
