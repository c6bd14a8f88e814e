import { describe, expect, it } from 'vitest';
import { ASYMMETRIC_ALGORITHMS } from '../../auth/algorithms.js';
import { createJwtVerifier } from '../../auth/jwt-verifier.js';
import { ConfigError, loadConfig, VARIABLES } from '../../gateway/config.js';

const VALID = {
  TENCENTCLOUD_SECRET_ID: 'AKIDexample',
  TENCENTCLOUD_SECRET_KEY: 'secret-key-value',
  AUTH_JWKS_URL: 'https://idp.example/.well-known/jwks.json',
  AUTH_ISSUER: 'https://idp.example/',
  AUTH_AUDIENCE: 'vnc-gateway',
  POLICY_FILE: '/etc/vnc-gateway/policy.yaml',
};

function problemsOf(env: Record<string, string>, files: Record<string, string> = {}): string[] {
  try {
    loadConfig(env, { readFile: (path) => { const text = files[path]; if (text === undefined) throw new Error('ENOENT'); return text; } });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(VALID);
    expect(config.port).toBe(8080);
    expect(config.host).toBe('0.0.0.0');
    expect(config.tencent.region).toBe('ap-guangzhou');
    expect(config.tencent.lighthouseEndpoint.href).toBe('https://lighthouse.tencentcloudapi.com/');
    expect(config.tencent.cvmEndpoint.href).toBe('https://cvm.tencentcloudapi.com/');
    expect(config.upstreamHosts).toEqual(['*.qcloud.com']);
    expect(config.auth.algorithms).toEqual(['RS256', 'ES256', 'EdDSA']);
    expect(config.auth.groupsClaim).toBe('groups');
    expect(config.instanceConnectsPerMinute).toBe(30);
    expect(config.apiRequestsPerSecond).toBe(10);
    expect(config.redisUrl).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('lists every problem together, each naming its variable', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      // Keys are optional (profile file, CVM role), but half a pair is a mistake.
      TENCENTCLOUD_SECRET_ID: 'AKIDonly',
      TENCENTCLOUD_REGION: 'Guangzhou!',
      INSTANCE_CONNECTS_PER_MINUTE: '31',
      API_REQUESTS_PER_SECOND: '50',
      AUTH_ALGORITHMS: 'none,HS256',
      UPSTREAM_HOSTS: '*',
      ALLOWED_ORIGINS: 'https://ok.example,not an origin',
    });
    const text = problems.join('\n');
    for (const name of ['PORT', 'TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_REGION', 'INSTANCE_CONNECTS_PER_MINUTE', 'API_REQUESTS_PER_SECOND', 'AUTH_ALGORITHMS', 'UPSTREAM_HOSTS', 'ALLOWED_ORIGINS', 'AUTH_JWKS_URL', 'AUTH_ISSUER', 'AUTH_AUDIENCE', 'POLICY_FILE']) {
      expect(text).toContain(name);
    }
    expect(problems.length).toBeGreaterThanOrEqual(12);
  });

  it('refuses both key sources at once, and none', () => {
    expect(problemsOf({ ...VALID, AUTH_PUBLIC_KEY_FILE: '/k.pem' }).join()).toMatch(/Exactly one of AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE/);
    const { AUTH_JWKS_URL: _unused, ...noKeys } = VALID;
    expect(problemsOf(noKeys).join()).toMatch(/Exactly one of AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE/);
  });

  it('refuses a plain-http AUTH_JWKS_URL unless its host is loopback', () => {
    for (const jwksUrl of ['http://idp.example/.well-known/jwks.json', 'http://10.1.2.3/jwks', 'http://localhost.evil.example/jwks']) {
      expect(problemsOf({ ...VALID, AUTH_JWKS_URL: jwksUrl }).join()).toMatch(/AUTH_JWKS_URL must be https/);
    }
    for (const jwksUrl of ['http://127.0.0.1:9000/jwks', 'http://[::1]/jwks', 'http://localhost:8080/jwks']) {
      expect(problemsOf({ ...VALID, AUTH_JWKS_URL: jwksUrl })).toEqual([]);
    }
    // Listed with the others, not thrown on its own.
    const problems = problemsOf({ ...VALID, AUTH_JWKS_URL: 'http://idp.example/jwks', PORT: 'eighty' });
    expect(problems.join()).toMatch(/PORT[\s\S]*AUTH_JWKS_URL|AUTH_JWKS_URL[\s\S]*PORT/);
  });

  it('refuses, as a configuration problem, an algorithm the verifier does not support (ES256K)', () => {
    expect(problemsOf({ ...VALID, AUTH_ALGORITHMS: 'RS256,ES256K' }).join()).toMatch(/AUTH_ALGORITHMS: algorithm "ES256K" is not supported/);
    expect(problemsOf({ ...VALID, AUTH_ALGORITHMS: 'RS256,PS512,ES512,EdDSA,Ed25519' })).toEqual([]);
  });

  it('starts a verifier for every algorithm list it accepts (one list for both)', () => {
    for (const alg of ASYMMETRIC_ALGORITHMS) {
      const config = loadConfig({ ...VALID, AUTH_ALGORITHMS: alg });
      expect(() => createJwtVerifier({ jwksUrl: VALID.AUTH_JWKS_URL, issuer: config.auth.issuer, audience: config.auth.audience, algorithms: config.auth.algorithms })).not.toThrow();
    }
  });

  describe('AUTH_HMAC_SECRET_FILE: HMAC only with a secret configured on purpose', () => {
    const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
    const withSecret = (env: Record<string, string>, secret: string | Uint8Array = `${SECRET}\n`): string[] => {
      try {
        loadConfig(env, { readSecretFile: (path) => { if (path !== '/run/secrets/hmac') throw new Error('ENOENT'); return typeof secret === 'string' ? Buffer.from(secret) : secret; } });
      } catch (error) {
        if (error instanceof ConfigError) return [...error.problems];
        throw error;
      }
      return [];
    };

    it('refuses an HS algorithm without it', () => {
      expect(withSecret({ ...VALID, AUTH_ALGORITHMS: 'RS256,HS256' }).join()).toMatch(/AUTH_ALGORITHMS: algorithm HS256 is HMAC, accepted only with a shared secret configured on purpose \(AUTH_HMAC_SECRET_FILE\)/);
    });

    it('accepts HS256 beside RS256 with it, and keeps only the path in the configuration', () => {
      const config = loadConfig({ ...VALID, AUTH_ALGORITHMS: 'RS256,HS256', AUTH_HMAC_SECRET_FILE: '/run/secrets/hmac' }, { readSecretFile: () => Buffer.from(SECRET) });
      expect(config.auth.algorithms).toEqual(['RS256', 'HS256']);
      expect(config.auth.hmacSecretFile).toBe('/run/secrets/hmac');
      expect(JSON.stringify(config)).not.toContain(SECRET);
    });

    it('accepts HMAC alone without a public key source, and refuses a key source nothing would use', () => {
      const { AUTH_JWKS_URL: _unused, ...noKeys } = VALID;
      expect(withSecret({ ...noKeys, AUTH_ALGORITHMS: 'HS256', AUTH_HMAC_SECRET_FILE: '/run/secrets/hmac' })).toEqual([]);
      expect(withSecret({ ...VALID, AUTH_ALGORITHMS: 'HS256', AUTH_HMAC_SECRET_FILE: '/run/secrets/hmac' }).join()).toMatch(/AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE is set but AUTH_ALGORITHMS lists no asymmetric algorithm/);
      expect(withSecret({ ...noKeys, AUTH_ALGORITHMS: 'RS256,HS256', AUTH_HMAC_SECRET_FILE: '/run/secrets/hmac' }).join()).toMatch(/Exactly one of AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE/);
    });

    it.each<[string, Record<string, string>, string | Uint8Array, RegExp]>([
      ['set without an HS algorithm', { AUTH_ALGORITHMS: 'RS256' }, SECRET, /AUTH_HMAC_SECRET_FILE is set but AUTH_ALGORITHMS lists no HS256, HS384 or HS512/],
      ['a secret under 32 bytes (the newline does not count)', { AUTH_ALGORITHMS: 'RS256,HS256' }, `${'x'.repeat(31)}\n`, /AUTH_HMAC_SECRET_FILE must hold at least 32 bytes \(it holds 31\)/],
      ['a secret too short for HS512', { AUTH_ALGORITHMS: 'HS512,RS256' }, 'y'.repeat(40), /at least 64 bytes for HS512/],
      ['a public key as the secret', { AUTH_ALGORITHMS: 'RS256,HS256' }, '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----\n', /looks like a key, not a secret/],
    ])('refuses %s', (_name, env, secret, message) => {
      expect(withSecret({ ...VALID, ...env, AUTH_HMAC_SECRET_FILE: '/run/secrets/hmac' }, secret).join()).toMatch(message);
    });

    it('reports an unreadable secret file without failing the rest of the check', () => {
      const problems = withSecret({ ...VALID, AUTH_ALGORITHMS: 'RS256,HS256', AUTH_HMAC_SECRET_FILE: '/nope', PORT: 'x' });
      expect(problems.join()).toMatch(/AUTH_HMAC_SECRET_FILE: cannot read \/nope/);
      expect(problems.join()).toMatch(/PORT/);
    });
  });

  it('never echoes a Redis password in a problem', () => {
    const problems = problemsOf({ ...VALID, REDIS_URL: 'http://user:hunter2@redis:6379' });
    expect(problems.join()).toContain('REDIS_URL');
    expect(problems.join()).not.toContain('hunter2');
  });

  it('reads a YAML file named by GATEWAY_CONFIG, with the environment winning', () => {
    const files = { '/cfg.yaml': 'PORT: 9090\nTENCENTCLOUD_REGION: ap-shanghai\nUPSTREAM_HOSTS: ["*.qcloud.com", "vnc.internal.example"]\n' };
    const config = loadConfig({ ...VALID, GATEWAY_CONFIG: '/cfg.yaml', TENCENTCLOUD_REGION: 'ap-beijing' }, { readFile: (p) => files[p as keyof typeof files] });
    expect(config.port).toBe(9090);
    expect(config.tencent.region).toBe('ap-beijing');
    expect(config.upstreamHosts).toEqual(['*.qcloud.com', 'vnc.internal.example']);
  });

  it('reports unknown keys and an unreadable file', () => {
    expect(problemsOf({ ...VALID, GATEWAY_CONFIG: '/cfg.yaml' }, { '/cfg.yaml': 'PROT: 1\n' }).join()).toContain('unknown key PROT');
    expect(problemsOf({ ...VALID, GATEWAY_CONFIG: '/missing.yaml' }).join()).toContain('cannot read /missing.yaml');
  });

  it('defaults ALLOWED_ORIGINS to the origin of PUBLIC_URL', () => {
    const config = loadConfig({ ...VALID, PUBLIC_URL: 'https://Console.Corp.Example:443/some/path' });
    expect(config.allowedOrigins).toEqual(['https://console.corp.example']);
  });

  it('documents every variable it reads', () => {
    const names = VARIABLES.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    for (const v of VARIABLES) expect(v.description.length).toBeGreaterThan(10);
  });
});
