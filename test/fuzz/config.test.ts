// Property tests of configuration loading: any environment (and any GATEWAY_CONFIG file) yields
// a configuration or one ConfigError listing problems, never another exception, and no message
// ever repeats the password of a REDIS_URL or HTTPS_PROXY.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, VARIABLES, type GatewayConfig } from '../../gateway/config.js';
import { fuzz } from './fuzz-settings.js';

const PASSWORD = 'Pw0rdMarker9';

const VALID: Record<string, string> = {
  TENCENTCLOUD_SECRET_ID: 'AKIDexample',
  TENCENTCLOUD_SECRET_KEY: 'secret-key',
  AUTH_PUBLIC_KEY_FILE: '/etc/keys.pem',
  AUTH_ISSUER: 'https://idp.example/',
  AUTH_AUDIENCE: 'vnc-gateway',
  POLICY_FILE: '/etc/policy.yaml',
};

// Values near each variable's rules, the secrets-bearing URLs in many broken shapes, and noise.
const secretUrl = fc.constantFrom(
  `redis://:${PASSWORD}@127.0.0.1:6379`,
  `rediss://user:${PASSWORD}@redis.internal:6380/2`,
  `http://user:${PASSWORD}@redis.internal`,
  `redis://user:${PASSWORD}@[not-an-ip`,
  `redis://user:${PASSWORD}@host:99999`,
  `user:${PASSWORD}@redis.internal`,
  `redis:// user:${PASSWORD}@host`,
  `ftp://u:${PASSWORD}@proxy.internal`,
  `http://u:${PASSWORD}@proxy.internal:3128`,
  `u:${PASSWORD}`,
);
const noise = fc.oneof(
  fc.constantFrom('', ' ', '0', '-1', '1e3', '65536', '99999999999999999999', 'true', 'FALSE', '*', ',', ',,', 'https://a.example', 'http://[::1]:8080', 'not a url', 'ap-guangzhou', 'RS256,none', 'HS256', '*.qcloud.com,*', '10.0.0.0/8,::1', 'debug'),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
const names = [...VARIABLES.map((v) => v.name), 'https_proxy', 'no_proxy'];
const envArb = fc
  .tuple(
    fc.boolean(),
    fc.dictionary(fc.constantFrom(...names), noise, { maxKeys: 8 }),
    // Only these variables hold URLs that may carry a password.
    fc.dictionary(fc.constantFrom('REDIS_URL', 'HTTPS_PROXY', 'https_proxy'), secretUrl, { maxKeys: 2 }),
    fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 2 }),
  )
  .map(([startValid, picked, secrets, unknown]) => ({ ...(startValid ? VALID : {}), ...unknown, ...picked, ...secrets }));

// The optional YAML file: valid-looking mappings, broken YAML, and text that holds the password.
const yamlFile = fc.oneof(
  fc.constant(`REDIS_URL: redis://:${PASSWORD}@127.0.0.1:6379\nPORT: 8080\n`),
  fc.constant(`REDIS_URL: "redis://:${PASSWORD}@127.0.0.1:6379\nPORT: [\n`),
  fc.constant(`REDIS_URL: [redis://:${PASSWORD}@h]\nLOG_LEVEL: {a: 1}\n`),
  fc.constant(`REDIS_URL: redis://:${PASSWORD}@h\n\tPORT: 1\n`),
  fc.constant(`- redis://:${PASSWORD}@h\n`),
  fc.constant(`REDIS_URL: &a redis://:${PASSWORD}@h\nREDIS_URL: *a\n`),
  fc.dictionary(fc.constantFrom(...names, 'UNKNOWN'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }).map((o) => JSON.stringify(o)),
  fc.string({ maxLength: 80 }),
);

function load(env: Record<string, string>, file: string | Error): { config: GatewayConfig } | { error: unknown } {
  try {
    return {
      config: loadConfig(env, {
        readFile: () => {
          if (file instanceof Error) throw file;
          return file;
        },
      }),
    };
  } catch (error) {
    return { error };
  }
}

describe('loading configuration from arbitrary environments', () => {
  it('yields a configuration or a ConfigError listing problems, never echoing a URL password', () => {
    let loaded = 0;
    fc.assert(
      fc.property(envArb, fc.option(fc.oneof(yamlFile, fc.constant(new Error('EACCES: permission denied'))), { nil: undefined }), (env, file) => {
        const withFile = file === undefined ? env : { ...env, GATEWAY_CONFIG: '/etc/gateway.yaml' };
        const outcome = load(withFile, file ?? '');
        if ('config' in outcome) {
          loaded++;
          expect(Object.isFrozen(outcome.config)).toBe(true);
          expect(outcome.config.port).toBeGreaterThanOrEqual(0);
          expect(outcome.config.port).toBeLessThanOrEqual(65535);
          return;
        }
        expect(outcome.error, String(outcome.error)).toBeInstanceOf(ConfigError);
        const error = outcome.error as ConfigError;
        expect(error.problems.length).toBeGreaterThan(0);
        for (const problem of error.problems) expect(typeof problem).toBe('string');
        expect(error.message).not.toContain(PASSWORD);
      }),
      fuzz(150),
    );
    expect(loaded).toBeGreaterThan(0);
  });
});
