// Starts and stops private redis-server processes for outage tests, each in its own process
// group so nothing outlives the test run.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A redis-server on a fixed port that a test can stop, freeze and start again. */
export interface ThrowawayRedis {
  readonly port: number;
  /** Starts (or restarts) the server and waits until it accepts connections. */
  start(): Promise<void>;
  /** `SHUTDOWN NOSAVE` and waits for the process to exit. */
  shutdown(): Promise<void>;
  /** SIGSTOP: the socket stays open but nothing answers, like a network partition. */
  freeze(): void;
  /** SIGCONT after {@link freeze}. */
  thaw(): void;
  /** Kills every process this helper started. Safe to call twice. */
  kill(): void;
}

/** Picks a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Creates (but does not start) a throwaway redis-server; `extraArgs` e.g. enable TLS. */
export async function createThrowawayRedis(extraArgs: (port: number) => string[] = (port) => ['--port', String(port)]): Promise<ThrowawayRedis> {
  const port = await freePort();
  const children = new Set<ChildProcess>();
  let current: ChildProcess | undefined;

  const killAll = (): void => {
    for (const child of children) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    children.clear();
  };
  process.once('exit', killAll);

  return {
    port,
    async start() {
      const child = spawn(
        'redis-server',
        [...extraArgs(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
        { detached: true, stdio: 'ignore' },
      );
      children.add(child);
      current = child;
      child.once('exit', () => children.delete(child));
      // Bounded wait for the listening socket.
      const deadline = Date.now() + 5000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited with ${child.exitCode}`);
        if (await canConnect(port)) return;
        if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start within 5 s`);
        await delay(25);
      }
    },
    async shutdown() {
      const child = current;
      if (child === undefined) return;
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      await run('redis-cli', ['-p', String(port), 'shutdown', 'nosave'], { timeout: 5000 }).catch(() => {
        // redis-cli reports the dropped connection as an error; the exit below is what counts.
      });
      await Promise.race([
        exited,
        delay(5000).then(() => {
          throw new Error(`redis-server on ${port} did not exit within 5 s`);
        }),
      ]);
      current = undefined;
    },
    freeze() {
      if (current?.pid !== undefined) process.kill(current.pid, 'SIGSTOP');
    },
    thaw() {
      if (current?.pid !== undefined) process.kill(current.pid, 'SIGCONT');
    },
    kill() {
      process.removeListener('exit', killAll);
      killAll();
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
