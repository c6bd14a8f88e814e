// A tiny HTTP CONNECT proxy for tests: counts the tunnels it opens and, in hijack mode, sends
// every tunnel to another server (a man in the middle the gateway's TLS check must refuse).

import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ConnectProxy {
  url: string;
  /** `host:port` of every tunnel opened, in order. */
  tunnels: string[];
  close(): Promise<void>;
}

export interface ConnectProxyOptions {
  /** Sends tunnels to this server instead of where they asked to go. */
  hijackTo?: { host: string; port: number };
  /** Only tunnels to these hosts are hijacked (default: every tunnel). */
  hijackHosts?: readonly string[];
}

export async function startConnectProxy(options: ConnectProxyOptions = {}): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      client.off('data', onData);
      const match = /^CONNECT (\S+):(\d+) HTTP\/1\.1\r\n/.exec(head.toString('latin1'));
      if (match === null) {
        client.end('HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const host = (match[1] ?? '').replace(/^\[|\]$/g, '');
      const port = Number(match[2]);
      tunnels.push(`${match[1]}:${port}`);
      const hijacked = options.hijackTo !== undefined && (options.hijackHosts === undefined || options.hijackHosts.includes(host));
      const target = hijacked && options.hijackTo ? options.hijackTo : { host, port };
      const upstream = connect(target.port, target.host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        const rest = head.subarray(end + 4);
        if (rest.length > 0) upstream.write(rest);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
