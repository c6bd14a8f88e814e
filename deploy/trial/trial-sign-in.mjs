// TRIAL ONLY — NOT FOR PRODUCTION: a stand-in for the company's SSO in `docker compose up`.
// Anyone who can reach it gets a token for the trial user. It is not part of the gateway image:
// compose mounts this file next to the image's node_modules (for `jose`) and nginx routes
// /trial/ to it. The gateway verifies its tokens exactly as it would a real IdP's (ES256,
// AUTH_PUBLIC_KEY_FILE, AUTH_ISSUER, AUTH_AUDIENCE).
//
//   GET /trial/sign-in   sets the token cookie and redirects to the first simulated console
//   GET /trial/sign-out  clears it
//   node trial-sign-in.mjs --print-token   prints one token (for curl / API clients) and exits
//
// Environment: TRIAL_PRIVATE_KEY_FILE (PKCS#8 EC P-256 PEM), TRIAL_ISSUER, TRIAL_AUDIENCE,
// TRIAL_COOKIE, TRIAL_USER_EMAIL, TRIAL_GROUPS (comma list), TRIAL_LANDING_PATH, PORT.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { importPKCS8, SignJWT } from 'jose';

const env = process.env;
const issuer = env.TRIAL_ISSUER ?? 'https://trial-idp.invalid/';
const audience = env.TRIAL_AUDIENCE ?? 'vnc-gateway';
const cookie = env.TRIAL_COOKIE ?? 'trial_session';
const email = env.TRIAL_USER_EMAIL ?? 'trial@example.com';
const groups = (env.TRIAL_GROUPS ?? 'trial').split(',').map((g) => g.trim()).filter(Boolean);
const landing = env.TRIAL_LANDING_PATH ?? '/console/lhins-demo0001';
const lifetimeSeconds = 8 * 3600;
const keyFile = env.TRIAL_PRIVATE_KEY_FILE ?? '/certs/idp-private.pem';
const key = await importPKCS8(readFileSync(keyFile, 'utf8'), 'ES256');

function sign() {
  return new SignJWT({ email, groups })
    .setProtectedHeader({ alg: 'ES256' })
    .setSubject(email)
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime(`${lifetimeSeconds}s`)
    .sign(key);
}

if (process.argv.includes('--print-token')) {
  process.stdout.write(`${await sign()}\n`);
  process.exit(0);
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://trial.invalid').pathname;
  if (req.method === 'GET' && path === '/trial/sign-in') {
    sign().then(
      (token) => {
        // HttpOnly: page scripts never see it. Secure: the trial is served over https by nginx.
        res.writeHead(303, {
          Location: landing,
          'Set-Cookie': `${cookie}=${token}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=${lifetimeSeconds}`,
          'Cache-Control': 'no-store',
        });
        res.end();
      },
      () => {
        res.writeHead(500).end();
      },
    );
    return;
  }
  if (req.method === 'GET' && path === '/trial/sign-out') {
    res.writeHead(200, { 'Set-Cookie': `${cookie}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0`, 'Content-Type': 'text/plain' });
    res.end('Signed out of the trial.\n');
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found.\n');
});
const port = Number(env.PORT ?? 8081);
server.listen(port, env.HOST ?? '0.0.0.0', () => {
  process.stderr.write(`trial sign-in (NOT FOR PRODUCTION) on :${port}: GET /trial/sign-in signs in ${email}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
