// nginx as the yardstick: a WebSocket reverse proxy to the same TLS upstream, run in the
// foreground with its own prefix, pid, error log and temp paths, so the bench owns it entirely.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export const NGINX_INSTALL_HINT =
  'nginx not found: install it to compare against it (Debian/Ubuntu: `apt-get install -y nginx-light`; Alpine: `apk add nginx`; macOS: `brew install nginx`), or set NGINX=/path/to/nginx.';

export function findNginx(): string | undefined {
  const candidates = [process.env.NGINX, '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx', '/opt/homebrew/bin/nginx'];
  return candidates.find((path): path is string => path !== undefined && existsSync(path));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface RunningNginx {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Starts nginx proxying ws://127.0.0.1:<port>/ to wss://localhost:<upstreamPort>/, verifying its certificate. */
export async function startNginx(binary: string, dir: string, upstreamPort: number, caPath: string): Promise<RunningNginx> {
  const prefix = join(dir, 'nginx');
  for (const sub of ['', 'tmp', 'logs']) mkdirSync(join(prefix, sub), { recursive: true });
  const port = await freePort();
  const tmp = join(prefix, 'tmp');
  // One worker: the gateway is one process too, and one connection is served by one worker anyway.
  const conf = `
worker_processes 1;
daemon off;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'logs', 'error.log')} warn;
worker_rlimit_nofile 20000;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass https://127.0.0.1:${upstreamPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host localhost;
      proxy_buffering off;
      proxy_read_timeout 3600s;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate ${caPath};
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
    }
  }
}
`;
  const confPath = join(prefix, 'nginx.conf');
  writeFileSync(confPath, conf);
  const child: ChildProcess = spawn(binary, ['-p', prefix, '-e', join(prefix, 'logs', 'error.log'), '-c', confPath], { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  // Ready when the port accepts connections.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const probe = connect(port, '127.0.0.1', () => {
        probe.destroy();
        resolve(true);
      });
      probe.on('error', () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start (see ${join(prefix, 'logs', 'error.log')})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // nginx runs as its own process group (master + worker): end the group.
      try {
        process.kill(-(child.pid ?? 0), 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
    },
  };
}
