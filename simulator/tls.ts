// A throwaway self-signed certificate for localhost / 127.0.0.1, made with the openssl CLI.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM key and certificate, plus where they were written (the cert doubles as the CA to trust). */
export interface SelfSignedCertificate {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
}

/**
 * Generates a P-256 key and a self-signed certificate for CN=localhost with SANs
 * DNS:localhost and IP:127.0.0.1, valid 2 days, into `dir` (a new temporary directory by default).
 */
export async function createSelfSignedCertificate(dir?: string): Promise<SelfSignedCertificate> {
  const target = dir ?? (await mkdtemp(join(tmpdir(), 'vnc-sim-tls-')));
  const keyPath = join(target, 'sim-key.pem');
  const certPath = join(target, 'sim-cert.pem');
  // EC keys generate in milliseconds; RSA-2048 can take a second, which adds up across test files.
  await run(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { timeout: 30_000 },
  );
  const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  return { cert, key, certPath, keyPath };
}
