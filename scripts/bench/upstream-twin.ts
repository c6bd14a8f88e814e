// The bench's upstream process: a TLS WebSocket "twin" of the simulator's VNC endpoint that every
// path (gateway, nginx, direct) connects to, plus the simulator's Tencent API whose returned URLs
// point at the twin. The twin sends a 12-byte RFB-like banner on connect (the "first upstream
// byte" of the setup measurement), echoes every message, and on a `BULK` command streams bytes.
// It accepts any `s=` token: single-use URLs are the simulator's business, not the bench's.

import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { WebSocketServer, type WebSocket } from 'ws';
import { startSimulator, type SimInstance } from '../../simulator/index.js';
import { BANNER, BULK_COMMAND_BYTES } from './twin-protocol.js';

function stream(ws: WebSocket, totalBytes: number, frameBytes: number): void {
  const frame = Buffer.alloc(frameBytes, 0x42);
  let sent = 0;
  const pump = (): void => {
    while (sent < totalBytes && ws.readyState === ws.OPEN) {
      sent += frameBytes;
      // Respect the twin's own queue: a producer that never waits would measure its own buffering.
      if (ws.bufferedAmount > 4 * 1024 * 1024) {
        ws.send(frame, { binary: true }, pump);
        return;
      }
      ws.send(frame, { binary: true });
    }
  };
  pump();
}

async function main(): Promise<void> {
  const cert = readFileSync(process.env.BENCH_CERT ?? '', 'utf8');
  const key = readFileSync(process.env.BENCH_KEY ?? '', 'utf8');
  const instanceCount = Number(process.env.BENCH_INSTANCES ?? '64');
  const server = createServer({ cert, key });
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: false,
    maxPayload: 1024 * 1024,
    clientTracking: false,
    handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
  });
  wss.on('connection', (ws) => {
    ws.on('error', () => ws.terminate());
    ws.send(BANNER);
    ws.on('message', (data: Buffer) => {
      if (data.length === BULK_COMMAND_BYTES && data.toString('latin1', 0, 4) === 'BULK') {
        stream(ws, data.readUInt32BE(4), data.readUInt32BE(8));
        return;
      }
      ws.send(data, { binary: true });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const twinPort = (server.address() as AddressInfo).port;

  const instances: SimInstance[] = Array.from({ length: instanceCount }, (_, i) => ({ id: `lhins-bnch${String(i).padStart(4, '0')}`, state: 'RUNNING' }));
  // The simulator's own limits are lifted: the gateway enforces Tencent's, and the scale phase
  // runs a gateway that deliberately does not (see README, Performance).
  const simulator = await startSimulator({ tls: { cert, key }, instances, vncUrlPort: twinPort, apiRequestsPerSecond: 1_000_000, connectsPerInstancePerMinute: 1_000_000 });
  process.send?.({ twinPort, apiUrl: simulator.apiUrl, instances: instances.map((i) => i.id) });
  process.on('message', (message) => {
    if (message === 'stop') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0));
}

void main();
