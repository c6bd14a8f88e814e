// The gateway's configuration: one schema, read from the environment and optionally a YAML
// file (GATEWAY_CONFIG; the environment wins), validated once, every problem reported together.

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { normaliseOrigin } from '../auth/origin.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface GatewayConfig {
  port: number;
  host: string;
  publicUrl: URL | undefined;
  /** Normalised origins (`scheme://host[:port]`) allowed to open sessions from a browser. */
  allowedOrigins: readonly string[];
  /** Number of trusted proxy hops, or CIDRs whose X-Forwarded-For is believed; empty = none. */
  trustProxy: { hops: number; cidrs: readonly string[] };
  redisUrl: string | undefined;
  keyPrefix: string;
  tencent: {
    secretId: string;
    secretKey: string;
    sessionToken: string | undefined;
    region: string;
    lighthouseEndpoint: URL;
    cvmEndpoint: URL;
    apiTimeoutMs: number;
  };
  /** Globs the host of a returned wss:// URL must match. */
  upstreamHosts: readonly string[];
  upstreamConnectTimeoutMs: number;
  auth: {
    jwksUrl: string | undefined;
    publicKeyFile: string | undefined;
    issuer: string;
    audience: string;
    algorithms: readonly string[];
    tokenHeader: string | undefined;
    tokenCookie: string | undefined;
    groupsClaim: string;
    clockToleranceSeconds: number;
    loginUrl: string | undefined;
  };
  policyFile: string;
  ticketTtlSeconds: number;
  instanceConnectsPerMinute: number;
  apiRequestsPerSecond: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** One configuration variable: its name, what it means, its default, for the README table. */
export interface VariableSpec {
  name: string;
  description: string;
  /** The default as a person reads it; `required` when there is none. */
  default: string;
}

/** Every variable the gateway reads, in README order. test/unit/config.test.ts checks the README. */
export const VARIABLES: readonly VariableSpec[] = [
  { name: 'GATEWAY_CONFIG', description: 'Optional YAML file with any of these variables as keys; the environment wins.', default: 'unset' },
  { name: 'PORT', description: 'Listen port.', default: '8080' },
  { name: 'HOST', description: 'Listen address.', default: '0.0.0.0' },
  { name: 'PUBLIC_URL', description: "The gateway's external URL (https://console.corp.example).", default: 'from request' },
  { name: 'ALLOWED_ORIGINS', description: 'Comma list of browser origins allowed to open sessions and call the API with cookies.', default: "PUBLIC_URL's origin; unset too: the request's own Host" },
  { name: 'TRUST_PROXY', description: 'Hop count, or comma list of CIDRs, whose X-Forwarded-For is believed for the client IP.', default: 'none' },
  { name: 'REDIS_URL', description: 'Shared state (redis:// or rediss://). Unset = in-process memory: one replica only, logged loudly.', default: 'unset' },
  { name: 'REDIS_KEY_PREFIX', description: 'Prefix of every Redis key, so several gateways can share one Redis.', default: 'vnc-gateway:' },
  { name: 'TENCENTCLOUD_SECRET_ID', description: 'API credential id (CAM key with DescribeInstanceVncUrl).', default: 'required' },
  { name: 'TENCENTCLOUD_SECRET_KEY', description: 'API credential secret.', default: 'required' },
  { name: 'TENCENTCLOUD_SESSION_TOKEN', description: 'Token of temporary credentials, sent as X-TC-Token.', default: 'unset' },
  { name: 'TENCENTCLOUD_REGION', description: 'Region sent as X-TC-Region (required by CVM).', default: 'ap-guangzhou' },
  { name: 'TENCENTCLOUD_LIGHTHOUSE_ENDPOINT', description: 'Full URL the Lighthouse API calls go to.', default: 'https://lighthouse.tencentcloudapi.com' },
  { name: 'TENCENTCLOUD_CVM_ENDPOINT', description: 'Full URL the CVM API calls go to.', default: 'https://cvm.tencentcloudapi.com' },
  { name: 'TENCENTCLOUD_API_TIMEOUT_MS', description: 'Timeout of one Tencent Cloud API call.', default: '5000' },
  { name: 'UPSTREAM_HOSTS', description: 'Comma list of globs the host of the returned wss:// URL must match; anything else is refused.', default: '*.qcloud.com' },
  { name: 'UPSTREAM_CONNECT_TIMEOUT_MS', description: 'Deadline for the upstream WebSocket handshake, inside the URL\'s 15 s life.', default: '10000' },
  { name: 'AUTH_JWKS_URL', description: "URL of the company IdP's JWKS (one of this or AUTH_PUBLIC_KEY_FILE).", default: 'required' },
  { name: 'AUTH_PUBLIC_KEY_FILE', description: 'File with the signing key: PEM public key, X.509 certificate or JWKS JSON.', default: 'required' },
  { name: 'AUTH_ISSUER', description: 'Required `iss` of tokens.', default: 'required' },
  { name: 'AUTH_AUDIENCE', description: 'Required `aud` of tokens.', default: 'required' },
  { name: 'AUTH_ALGORITHMS', description: 'Accepted JWT `alg`s (asymmetric only).', default: 'RS256,ES256,EdDSA' },
  { name: 'AUTH_TOKEN_HEADER', description: 'Extra request header an SSO proxy puts the JWT in (e.g. Cf-Access-Jwt-Assertion).', default: 'unset' },
  { name: 'AUTH_TOKEN_COOKIE', description: 'Cookie holding the JWT (e.g. CF_Authorization).', default: 'unset' },
  { name: 'AUTH_GROUPS_CLAIM', description: "Claim holding the user's groups; dotted paths allowed (realm_access.roles).", default: 'groups' },
  { name: 'AUTH_CLOCK_TOLERANCE_S', description: 'Allowed clock skew for exp/nbf, at most 300.', default: '30' },
  { name: 'AUTH_LOGIN_URL', description: 'Where the "sign in" link of the 401 page points.', default: 'unset' },
  { name: 'POLICY_FILE', description: 'YAML policy: who may open which instance.', default: 'required' },
  { name: 'TICKET_TTL_S', description: 'Life of a single-use WebSocket ticket, at most 30.', default: '30' },
  { name: 'INSTANCE_CONNECTS_PER_MINUTE', description: "Per-instance connection attempts per sliding minute, at most Tencent's 30.", default: '30' },
  { name: 'API_REQUESTS_PER_SECOND', description: "Fleet-wide DescribeInstanceVncUrl calls per sliding second, at most Tencent's 10.", default: '10' },
  { name: 'LOG_LEVEL', description: 'Diagnostic log level: debug, info, warn, error.', default: 'info' },
];

/** Thrown when the configuration is invalid; `problems` lists each one with its variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export interface LoadConfigOptions {
  readFile?: (path: string) => string;
}

const KNOWN = new Set(VARIABLES.map((v) => v.name));

/** Reads and validates the configuration; throws ConfigError listing every problem. */
export function loadConfig(env: Env, options: LoadConfigOptions = {}): GatewayConfig {
  const readFile = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const problems: string[] = [];
  const merged: Record<string, string | undefined> = {};

  const file = nonEmpty(env.GATEWAY_CONFIG);
  if (file !== undefined) {
    try {
      const parsed: unknown = parseYaml(readFile(file));
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        for (const [key, value] of Object.entries(parsed)) {
          if (!KNOWN.has(key)) problems.push(`GATEWAY_CONFIG (${file}): unknown key ${key}`);
          else if (value === null || value === undefined) continue;
          else if (['string', 'number', 'boolean'].includes(typeof value)) merged[key] = String(value);
          else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) merged[key] = value.join(',');
          else problems.push(`GATEWAY_CONFIG (${file}): ${key} must be a string, number, boolean or list of strings`);
        }
      } else if (parsed !== null) {
        problems.push(`GATEWAY_CONFIG (${file}): must be a YAML mapping of variable names to values`);
      }
    } catch (error) {
      problems.push(`GATEWAY_CONFIG: cannot read ${file}: ${(error as Error).message}`);
    }
  }
  for (const name of KNOWN) {
    const value = nonEmpty(env[name]);
    if (value !== undefined) merged[name] = value;
  }
  const get = (name: string): string | undefined => nonEmpty(merged[name]);
  const required = (name: string, hint: string): string => {
    const value = get(name);
    if (value === undefined) problems.push(`${name} is required: ${hint}`);
    return value ?? '';
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return Number(raw);
  };
  const url = (name: string, fallback: string | undefined, protocols: readonly string[], allowCredentials = false): URL | undefined => {
    const raw = get(name) ?? fallback;
    if (raw === undefined) return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) throw new Error(`scheme must be ${protocols.join(' or ')}`);
      if (!allowCredentials && (parsed.username || parsed.password)) throw new Error('credentials in the URL are not allowed');
      return parsed;
    } catch (error) {
      // A URL that may hold a password is never echoed back.
      const shown = allowCredentials ? '' : `; got "${raw}"`;
      problems.push(`${name} must be a URL (${(error as Error).message}${shown})`);
      return undefined;
    }
  };

  const publicUrl = url('PUBLIC_URL', undefined, ['https:', 'http:']);
  const allowedOrigins: string[] = [];
  const originList = get('ALLOWED_ORIGINS');
  if (originList !== undefined) {
    for (const entry of splitList(originList)) {
      const origin = normaliseOrigin(entry);
      if (origin === undefined) problems.push(`ALLOWED_ORIGINS: "${entry}" is not an origin like https://console.corp.example`);
      else allowedOrigins.push(origin);
    }
  } else if (publicUrl !== undefined) {
    allowedOrigins.push(publicUrl.origin);
  }

  const trustProxy = { hops: 0, cidrs: [] as string[] };
  const trustRaw = get('TRUST_PROXY');
  if (trustRaw !== undefined) {
    if (/^\d+$/.test(trustRaw)) trustProxy.hops = Number(trustRaw);
    else {
      for (const cidr of splitList(trustRaw)) {
        if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(cidr)) problems.push(`TRUST_PROXY: "${cidr}" is neither a hop count nor a CIDR`);
        else trustProxy.cidrs.push(cidr);
      }
    }
  }

  const redisUrl = get('REDIS_URL');
  // Redis passwords legitimately live in REDIS_URL (it is never logged).
  url('REDIS_URL', undefined, ['redis:', 'rediss:'], true);

  const secretId = get('TENCENTCLOUD_SECRET_ID');
  const secretKey = get('TENCENTCLOUD_SECRET_KEY');
  if (secretId === undefined || secretKey === undefined) {
    problems.push('TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY are required: a CAM key allowed to call DescribeInstanceVncUrl');
  }
  const region = get('TENCENTCLOUD_REGION') ?? 'ap-guangzhou';
  if (!/^[a-z]{2,3}(-[a-z]+)+(-\d+)?$/.test(region)) problems.push(`TENCENTCLOUD_REGION: "${region}" is not a region name like ap-guangzhou`);
  const lighthouseEndpoint = url('TENCENTCLOUD_LIGHTHOUSE_ENDPOINT', 'https://lighthouse.tencentcloudapi.com', ['https:', 'http:']);
  const cvmEndpoint = url('TENCENTCLOUD_CVM_ENDPOINT', 'https://cvm.tencentcloudapi.com', ['https:', 'http:']);

  const upstreamHosts = splitList(get('UPSTREAM_HOSTS') ?? '*.qcloud.com');
  for (const glob of upstreamHosts) {
    if (!/^[a-z0-9*?.-]+$/i.test(glob) || glob === '*') problems.push(`UPSTREAM_HOSTS: "${glob}" must be a host name or glob such as *.qcloud.com (a bare * is not allowed)`);
  }

  const jwksUrl = get('AUTH_JWKS_URL');
  const publicKeyFile = get('AUTH_PUBLIC_KEY_FILE');
  if ((jwksUrl === undefined) === (publicKeyFile === undefined)) {
    problems.push('Exactly one of AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE is required: where the company IdP publishes its signing keys');
  }
  if (jwksUrl !== undefined) url('AUTH_JWKS_URL', undefined, ['https:', 'http:']);
  const issuer = required('AUTH_ISSUER', 'the `iss` your IdP puts in tokens');
  const audience = required('AUTH_AUDIENCE', 'the `aud` your IdP puts in tokens for this gateway');
  const algorithms = splitList(get('AUTH_ALGORITHMS') ?? 'RS256,ES256,EdDSA');
  const asymmetric = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^ES256K$|^Ed25519$/;
  for (const alg of algorithms) {
    if (!asymmetric.test(alg)) problems.push(`AUTH_ALGORITHMS: "${alg}" is not an accepted asymmetric algorithm (none and HMAC are refused)`);
  }
  if (algorithms.length === 0) problems.push('AUTH_ALGORITHMS must list at least one algorithm');
  const tokenHeader = get('AUTH_TOKEN_HEADER');
  if (tokenHeader !== undefined && !/^[A-Za-z0-9-]+$/.test(tokenHeader)) problems.push(`AUTH_TOKEN_HEADER: "${tokenHeader}" is not a header name`);
  const tokenCookie = get('AUTH_TOKEN_COOKIE');
  if (tokenCookie !== undefined && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(tokenCookie)) problems.push(`AUTH_TOKEN_COOKIE: "${tokenCookie}" is not a cookie name`);
  const loginUrl = url('AUTH_LOGIN_URL', undefined, ['https:', 'http:']);

  const policyFile = required('POLICY_FILE', 'the YAML file saying who may open which instance');

  const logLevel = get('LOG_LEVEL') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) problems.push(`LOG_LEVEL must be debug, info, warn or error (got "${logLevel}")`);

  const config: GatewayConfig = {
    port: integer('PORT', 8080, 0, 65535),
    host: get('HOST') ?? '0.0.0.0',
    publicUrl,
    allowedOrigins,
    trustProxy,
    redisUrl,
    keyPrefix: get('REDIS_KEY_PREFIX') ?? 'vnc-gateway:',
    tencent: {
      secretId: secretId ?? '',
      secretKey: secretKey ?? '',
      sessionToken: get('TENCENTCLOUD_SESSION_TOKEN'),
      region,
      lighthouseEndpoint: lighthouseEndpoint ?? new URL('https://lighthouse.tencentcloudapi.com'),
      cvmEndpoint: cvmEndpoint ?? new URL('https://cvm.tencentcloudapi.com'),
      apiTimeoutMs: integer('TENCENTCLOUD_API_TIMEOUT_MS', 5000, 100, 60_000),
    },
    upstreamHosts,
    upstreamConnectTimeoutMs: integer('UPSTREAM_CONNECT_TIMEOUT_MS', 10_000, 500, 14_000),
    auth: {
      jwksUrl,
      publicKeyFile,
      issuer,
      audience,
      algorithms,
      tokenHeader,
      tokenCookie,
      groupsClaim: get('AUTH_GROUPS_CLAIM') ?? 'groups',
      clockToleranceSeconds: integer('AUTH_CLOCK_TOLERANCE_S', 30, 0, 300),
      loginUrl: loginUrl?.href,
    },
    policyFile,
    ticketTtlSeconds: integer('TICKET_TTL_S', 30, 1, 30),
    instanceConnectsPerMinute: integer('INSTANCE_CONNECTS_PER_MINUTE', 30, 1, 30),
    apiRequestsPerSecond: integer('API_REQUESTS_PER_SECOND', 10, 1, 10),
    logLevel: logLevel as GatewayConfig['logLevel'],
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

function splitList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
