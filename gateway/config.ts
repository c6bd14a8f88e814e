// The gateway's configuration: one schema, read from the environment and optionally a YAML
// file (GATEWAY_CONFIG; the environment wins), validated once, every problem reported together.

import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { parse as parseYaml, YAMLError } from 'yaml';
import { parseRedisTopology, REDIS_TOPOLOGY_VARIABLES, type RedisTopology } from './state/redis-topology-config.js';
import { checkAlgorithms, HMAC_ALGORITHMS, isHmacAlgorithm } from '../auth/algorithms.js';
import { hmacSecretProblems, secretFromFile } from '../auth/hmac-secret.js';
import { checkJwksUrl } from '../auth/jwks-url.js';
import { normaliseOrigin } from '../auth/origin.js';
import { parseAccounts, type AccountConfig } from './tencent/account-config.js';
import { isRegionName, parseInstanceRegions, type InstanceRegionRule } from './tencent/regions.js';
import { DEFAULT_METADATA_URL } from './tencent/role-credentials.js';

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
  /** Sentinel or Cluster instead of REDIS_URL (state/redis-topology.ts). */
  redisTopology: RedisTopology | undefined;
  keyPrefix: string;
  /** While Redis is unreachable: refuse (503/4503, not ready) or count on this replica (LIMITS_ON_REDIS_FAILURE). */
  limitsOnRedisFailure: 'refuse' | 'local';
  /** Session starts per user per sliding minute, fleet-wide. */
  userSessionsPerMinute: number;
  /** Concurrent sessions per user, fleet-wide. */
  userMaxSessions: number;
  /** A replica's session leases lapse this long after its last heartbeat. */
  sessionTtlSeconds: number;
  tencent: {
    /** Unset: the profile file, then the CVM role (tencent/credential-chain.ts). */
    secretId: string | undefined;
    secretKey: string | undefined;
    sessionToken: string | undefined;
    /** Profile files to try in order (TENCENTCLOUD_CREDENTIALS_FILE, else ~/.tencentcloud, /etc/tencentcloud). */
    profilePaths: readonly string[];
    metadataUrl: URL;
    /** INSTANCE_REGIONS: ids/globs → region, first match wins. */
    instanceRegions: readonly InstanceRegionRule[];
    /** The `accounts:` list of GATEWAY_CONFIG; instances matching none use the top-level account. */
    accounts: readonly AccountConfig[];
    /** How long a session may take to get its VNC URL, retries included (SESSION_CONNECT_DEADLINE_MS). */
    connectDeadlineMs: number;
    region: string;
    lighthouseEndpoint: URL;
    cvmEndpoint: URL;
    apiTimeoutMs: number;
  };
  /** Globs the host of a returned wss:// URL must match. */
  upstreamHosts: readonly string[];
  upstreamConnectTimeoutMs: number;
  /** Relay limits and lifecycle (gateway/relay/relay-session.ts). */
  relay: {
    maxClientFrameBytes: number;
    maxUpstreamFrameBytes: number;
    keepaliveIntervalSeconds: number;
    /** 0 = no idle timeout. */
    idleTimeoutSeconds: number;
    /** 0 = no maximum (the policy's maxSessionSeconds still applies). */
    maxSessionSeconds: number;
    slowConsumerBytes: number;
    slowConsumerSeconds: number;
  };
  shutdownGraceSeconds: number;
  /** Egress proxy for Tencent API calls and upstream WebSockets; undefined = direct. */
  egress: { httpsProxy: URL | undefined; noProxy: string };
  auth: {
    jwksUrl: string | undefined;
    publicKeyFile: string | undefined;
    /** AUTH_HMAC_SECRET_FILE: the only key HS256/384/512 tokens are verified with; undefined = HMAC refused. */
    hmacSecretFile: string | undefined;
    issuer: string;
    audience: string;
    algorithms: readonly string[];
    tokenHeader: string | undefined;
    tokenCookie: string | undefined;
    groupsClaim: string;
    clockToleranceSeconds: number;
    loginUrl: string | undefined;
    /** How long fetched JWKS keys are used before a refetch (AUTH_JWKS_CACHE_S). */
    jwksCacheSeconds: number;
    /** Failed authentications per client IP per minute before 429 (AUTH_FAILURES_PER_MINUTE). */
    failuresPerMinute: number;
    /** End a session with 4401 when the JWT that opened it expires (AUTH_END_SESSION_AT_EXPIRY). */
    endSessionAtExpiry: boolean;
  };
  policyFile: string;
  ticketTtlSeconds: number;
  instanceConnectsPerMinute: number;
  apiRequestsPerSecond: number;
  /** Regions whose Lighthouse and CVM instances the instance picker lists (DescribeInstances); empty = policy ids only. */
  instanceListRegions: readonly string[];
  /** Where the audit trail goes (several sinks at once) and what happens when it cannot be written. */
  audit: AuditConfig;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** The audit sinks: stdout JSON lines, an append-only file, a Redis stream. */
export interface AuditConfig {
  stdout: boolean;
  file: string | undefined;
  redisStream: string | undefined;
  /** Approximate entry cap of the stream; 0 = none. */
  redisMaxLen: number;
  /** Entries older than this leave the stream; 0 = kept. */
  redisMaxAgeSeconds: number;
  onFailure: 'refuse' | 'continue';
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
  { name: 'GATEWAY_CONFIG', description: 'Optional YAML file with any of these variables as keys, and an `accounts:` list of Tencent Cloud accounts (README); the environment wins.', default: 'unset' },
  { name: 'PORT', description: 'Listen port.', default: '8080' },
  { name: 'HOST', description: 'Listen address.', default: '0.0.0.0' },
  { name: 'PUBLIC_URL', description: "The gateway's external URL (https://console.corp.example).", default: 'from request' },
  { name: 'ALLOWED_ORIGINS', description: 'Comma list of browser origins allowed to open sessions and call the API with cookies.', default: "PUBLIC_URL's origin; unset too: the request's own Host (trials only, warned at start)" },
  { name: 'TRUST_PROXY', description: 'Hop count, or comma list of CIDRs, whose X-Forwarded-For is believed for the client IP.', default: 'none' },
  { name: 'REDIS_URL', description: 'Shared state (redis:// or rediss://). Unset = in-process memory: one replica only, logged loudly.', default: 'unset' },
  { name: 'REDIS_KEY_PREFIX', description: 'Prefix of every Redis key, so several gateways can share one Redis.', default: 'vnc-gateway:' },
  ...REDIS_TOPOLOGY_VARIABLES,
  { name: 'LIMITS_ON_REDIS_FAILURE', description: "While Redis is unreachable: `refuse` new sessions (503 / close 4503) and report not ready, or `local`: count limits on each replica alone (logged; the fleet may then exceed Tencent's budgets).", default: 'refuse' },
  { name: 'USER_SESSIONS_PER_MINUTE', description: 'Session starts per user per sliding minute, fleet-wide.', default: '30' },
  { name: 'USER_MAX_SESSIONS', description: 'Concurrent sessions per user, fleet-wide. (Per instance: the policy rule\'s maxConcurrentSessions.)', default: '10' },
  { name: 'SESSION_TTL_S', description: "Each replica renews its sessions in the shared list every third of this; a replica that dies has its sessions (and their concurrency slots) gone after it.", default: '30' },
  { name: 'TENCENTCLOUD_SECRET_ID', description: 'API credential id (CAM key with DescribeInstanceVncUrl); first in the credential chain, with TENCENTCLOUD_SECRET_KEY.', default: 'profile file, then CVM role' },
  { name: 'TENCENTCLOUD_SECRET_KEY', description: 'API credential secret.', default: 'profile file, then CVM role' },
  { name: 'TENCENTCLOUD_SESSION_TOKEN', description: 'Token of temporary credentials, sent as X-TC-Token.', default: 'unset' },
  { name: 'TENCENTCLOUD_CREDENTIALS_FILE', description: 'Profile file (INI, [default] secret_id, secret_key, token), re-read when it changes; second in the chain. When set, it must exist: a missing file stops the process rather than falling through to the CVM role.', default: '~/.tencentcloud/credentials, then /etc/tencentcloud/credentials' },
  { name: 'TENCENTCLOUD_METADATA_URL', description: 'Instance metadata service for CVM role credentials; last in the chain.', default: DEFAULT_METADATA_URL },
  { name: 'TENCENTCLOUD_REGION', description: 'Region sent as X-TC-Region when neither the request nor INSTANCE_REGIONS names one.', default: 'ap-guangzhou' },
  { name: 'INSTANCE_REGIONS', description: 'Comma list of instance-id-or-glob=region (lhins-sh*=ap-shanghai,ins-abc*=ap-beijing); first match wins.', default: 'unset' },
  { name: 'SESSION_CONNECT_DEADLINE_MS', description: "How long a session may take to get Tencent's VNC URL, retries of transient errors included.", default: '8000' },
  { name: 'TENCENTCLOUD_LIGHTHOUSE_ENDPOINT', description: 'Full URL the Lighthouse API calls go to.', default: 'https://lighthouse.tencentcloudapi.com' },
  { name: 'TENCENTCLOUD_CVM_ENDPOINT', description: 'Full URL the CVM API calls go to.', default: 'https://cvm.tencentcloudapi.com' },
  { name: 'TENCENTCLOUD_API_TIMEOUT_MS', description: 'Timeout of one Tencent Cloud API call.', default: '5000' },
  { name: 'UPSTREAM_HOSTS', description: 'Comma list of globs the host of the returned wss:// URL must match; anything else is refused.', default: '*.qcloud.com' },
  { name: 'UPSTREAM_CONNECT_TIMEOUT_MS', description: 'Deadline for the upstream WebSocket handshake, inside the URL\'s 15 s life.', default: '10000' },
  { name: 'MAX_CLIENT_FRAME_BYTES', description: 'Largest WebSocket frame a client may send (RFB input is tiny); larger ones close the session with 1009.', default: '65536' },
  { name: 'MAX_UPSTREAM_FRAME_BYTES', description: 'Largest WebSocket frame accepted from the instance console (framebuffer updates); larger ones end the session with 4502.', default: '16777216' },
  { name: 'KEEPALIVE_INTERVAL_S', description: 'Ping both sides this often; a side that has not answered the previous ping is dead and the session ends. 0 = off.', default: '30' },
  { name: 'IDLE_TIMEOUT_S', description: 'Close a session (4408) when the client sent no data frame for this long (pongs do not count). 0 = off.', default: '1800' },
  { name: 'MAX_SESSION_S', description: "Longest a session may last (4410); the policy rule's maxSessionSeconds can shorten it. 0 = no limit.", default: '43200' },
  { name: 'SLOW_CONSUMER_BYTES', description: 'A client whose send queue stays above this many bytes for SLOW_CONSUMER_S is cut off (4413).', default: '524288' },
  { name: 'SLOW_CONSUMER_S', description: 'How long a client may stay above SLOW_CONSUMER_BYTES.', default: '30' },
  { name: 'SHUTDOWN_GRACE_S', description: 'On SIGTERM: refuse new sessions and report not ready, let live sessions run this long, then close the rest with 1001.', default: '30' },
  { name: 'HTTPS_PROXY', description: 'HTTP CONNECT proxy (http:// or https://) for Tencent API calls and upstream WebSockets; `https_proxy` is read too. TLS is verified end to end through the tunnel.', default: 'unset (direct)' },
  { name: 'NO_PROXY', description: 'Comma list of hosts, `.domain` suffixes, `host:port` or `*` that bypass HTTPS_PROXY; `no_proxy` is read too.', default: 'unset' },
  { name: 'AUTH_JWKS_URL', description: "URL of the company IdP's JWKS (one of this or AUTH_PUBLIC_KEY_FILE); https, plain http only to a loopback host (127.0.0.0/8, ::1, localhost).", default: 'required' },
  { name: 'AUTH_PUBLIC_KEY_FILE', description: 'File with the signing key: PEM public key, X.509 certificate or JWKS JSON.', default: 'required' },
  { name: 'AUTH_HMAC_SECRET_FILE', description: 'File holding the shared secret for HMAC-signed tokens (its bytes, less one trailing newline; at least 32 bytes, 48 for HS384, 64 for HS512). Only with it may AUTH_ALGORITHMS list HS256/HS384/HS512, and those tokens are verified against this secret alone, never a public key. Without asymmetric algorithms, neither AUTH_JWKS_URL nor AUTH_PUBLIC_KEY_FILE is needed.', default: 'unset (HMAC refused)' },
  { name: 'AUTH_ISSUER', description: 'Required `iss` of tokens.', default: 'required' },
  { name: 'AUTH_AUDIENCE', description: 'Required `aud` of tokens.', default: 'required' },
  { name: 'AUTH_ALGORITHMS', description: 'Accepted JWT `alg`s: RS/PS/ES 256/384/512, EdDSA, Ed25519; HS256/HS384/HS512 only with AUTH_HMAC_SECRET_FILE; never none.', default: 'RS256,ES256,EdDSA' },
  { name: 'AUTH_TOKEN_HEADER', description: 'Extra request header an SSO proxy puts the JWT in (e.g. Cf-Access-Jwt-Assertion).', default: 'unset' },
  { name: 'AUTH_TOKEN_COOKIE', description: 'Cookie holding the JWT (e.g. CF_Authorization).', default: 'unset' },
  { name: 'AUTH_GROUPS_CLAIM', description: "Claim holding the user's groups; dotted paths allowed (realm_access.roles).", default: 'groups' },
  { name: 'AUTH_CLOCK_TOLERANCE_S', description: 'Allowed clock skew for exp/nbf, at most 300.', default: '30' },
  { name: 'AUTH_JWKS_CACHE_S', description: 'Seconds fetched JWKS keys are used before a refetch (an unknown kid refetches sooner, at most every 30 s); a removed key is refused after this.', default: '600' },
  { name: 'AUTH_FAILURES_PER_MINUTE', description: 'Failed authentications per client IP (IPv6: per /64) per sliding minute, fleet-wide, before the gateway answers 429.', default: '20' },
  { name: 'AUTH_END_SESSION_AT_EXPIRY', description: "true: a session ends (4401) when the JWT that opened it expires; false: it may outlive the token up to the policy's maxSessionSeconds.", default: 'false' },
  { name: 'AUTH_LOGIN_URL', description: 'Where the "sign in" link of the 401 page points.', default: 'unset' },
  { name: 'POLICY_FILE', description: 'YAML policy: who may open which instance.', default: 'required' },
  { name: 'TICKET_TTL_S', description: 'Life of a single-use WebSocket ticket, at most 30.', default: '30' },
  { name: 'INSTANCE_CONNECTS_PER_MINUTE', description: "Per-instance connection attempts per sliding minute, at most Tencent's 30.", default: '30' },
  { name: 'API_REQUESTS_PER_SECOND', description: "Fleet-wide DescribeInstanceVncUrl calls per sliding second, at most Tencent's 10.", default: '10' },
  { name: 'INSTANCE_LIST_REGIONS', description: "Comma list of regions whose Lighthouse and CVM instances the instance picker (`/`) lists with DescribeInstances, filtered by the policy. Unset: the policy's explicit ids only.", default: 'unset' },
  { name: 'AUDIT_STDOUT', description: 'Write the audit trail as JSON lines to standard output (true or false).', default: 'true' },
  { name: 'AUDIT_FILE', description: 'Append-only audit file (hash-chained JSON lines, fsynced in small batches, reopened on SIGHUP for log rotation).', default: 'unset' },
  { name: 'AUDIT_REDIS_STREAM', description: 'Redis Stream key holding the fleet-wide, hash-chained audit trail (needs REDIS_URL); the query API reads it.', default: 'unset' },
  { name: 'AUDIT_REDIS_MAXLEN', description: 'Keep about this many entries in the audit stream (0 = no length limit).', default: '1000000' },
  { name: 'AUDIT_REDIS_MAX_AGE_S', description: 'Drop audit stream entries older than this many seconds (0 = keep).', default: '0' },
  { name: 'AUDIT_ON_FAILURE', description: 'When an audit sink cannot write: `refuse` new sessions and tickets (503 / close 4503), or `continue` without a complete trail (logged).', default: 'refuse' },
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
  /** Reads AUTH_HMAC_SECRET_FILE as bytes (a secret need not be text). Default readFileSync. */
  readSecretFile?: (path: string) => Uint8Array;
}

const KNOWN = new Set(VARIABLES.map((v) => v.name));

/** Reads and validates the configuration; throws ConfigError listing every problem. */
export function loadConfig(env: Env, options: LoadConfigOptions = {}): GatewayConfig {
  const readFile = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const readSecretFile = options.readSecretFile ?? ((path: string) => readFileSync(path));
  const problems: string[] = [];
  const merged: Record<string, string | undefined> = {};
  let accountsRaw: unknown;

  const file = nonEmpty(env.GATEWAY_CONFIG);
  if (file !== undefined) {
    try {
      const parsed: unknown = parseYaml(readFile(file));
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        for (const [key, value] of Object.entries(parsed)) {
          if (key === 'accounts') accountsRaw = value;
          else if (!KNOWN.has(key)) problems.push(`GATEWAY_CONFIG (${file}): unknown key ${key}`);
          else if (value === null || value === undefined) continue;
          else if (['string', 'number', 'boolean'].includes(typeof value)) merged[key] = String(value);
          else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) merged[key] = value.join(',');
          else problems.push(`GATEWAY_CONFIG (${file}): ${key} must be a string, number, boolean or list of strings`);
        }
      } else if (parsed !== null) {
        problems.push(`GATEWAY_CONFIG (${file}): must be a YAML mapping of variable names to values`);
      }
    } catch (error) {
      // A YAML error's message quotes the offending lines, which may hold REDIS_URL's password: only its first line.
      const reason = error instanceof YAMLError ? (error.message.split('\n')[0] ?? error.code).replace(/:$/, '') : (error as Error).message;
      problems.push(`GATEWAY_CONFIG: cannot read ${file}: ${reason}`);
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
  const redisTopology = parseRedisTopology(get, problems);
  const limitsOnRedisFailure = get('LIMITS_ON_REDIS_FAILURE') ?? 'refuse';
  if (limitsOnRedisFailure !== 'refuse' && limitsOnRedisFailure !== 'local') problems.push(`LIMITS_ON_REDIS_FAILURE must be refuse or local (got "${limitsOnRedisFailure}")`);
  // Redis passwords legitimately live in REDIS_URL (it is never logged).
  url('REDIS_URL', undefined, ['redis:', 'rediss:'], true);

  // Optional: without them the profile file, then the CVM role, are tried at start.
  const secretId = get('TENCENTCLOUD_SECRET_ID');
  const secretKey = get('TENCENTCLOUD_SECRET_KEY');
  if ((secretId === undefined) !== (secretKey === undefined)) {
    problems.push('TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY go together: set both, or neither to use the profile file or CVM role');
  }
  if (get('TENCENTCLOUD_SESSION_TOKEN') !== undefined && secretId === undefined) {
    problems.push('TENCENTCLOUD_SESSION_TOKEN only goes with TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY');
  }
  const credentialsFile = get('TENCENTCLOUD_CREDENTIALS_FILE');
  // Named explicitly, the file must be there: skipping it would quietly fall through to the CVM
  // role (or fail later with a less useful message). The default paths are optional, as in the SDKs.
  if (credentialsFile !== undefined && !isReadableFile(credentialsFile)) {
    problems.push(`TENCENTCLOUD_CREDENTIALS_FILE: ${credentialsFile} is not a readable file (unset it to use ~/.tencentcloud/credentials, /etc/tencentcloud/credentials or the CVM role)`);
  }
  const home = nonEmpty(env.HOME);
  const profilePaths = credentialsFile !== undefined
    ? [credentialsFile]
    : [...(home !== undefined ? [`${home.replace(/\/$/, '')}/.tencentcloud/credentials`] : []), '/etc/tencentcloud/credentials'];
  const metadataUrl = url('TENCENTCLOUD_METADATA_URL', DEFAULT_METADATA_URL, ['http:', 'https:']);
  const region = get('TENCENTCLOUD_REGION') ?? 'ap-guangzhou';
  if (!isRegionName(region)) problems.push(`TENCENTCLOUD_REGION: "${region}" is not a region name like ap-guangzhou`);
  const instanceRegions = parseInstanceRegions(get('INSTANCE_REGIONS') ?? '');
  for (const problem of instanceRegions.problems) problems.push(`INSTANCE_REGIONS: ${problem}`);
  const accounts = accountsRaw === undefined ? [] : parseAccounts(accountsRaw, metadataUrl ?? new URL(DEFAULT_METADATA_URL), problems, isReadableFile);
  const lighthouseEndpoint = url('TENCENTCLOUD_LIGHTHOUSE_ENDPOINT', 'https://lighthouse.tencentcloudapi.com', ['https:', 'http:']);
  const cvmEndpoint = url('TENCENTCLOUD_CVM_ENDPOINT', 'https://cvm.tencentcloudapi.com', ['https:', 'http:']);

  const upstreamHosts = splitList(get('UPSTREAM_HOSTS') ?? '*.qcloud.com');
  for (const glob of upstreamHosts) {
    if (!/^[a-z0-9*?.-]+$/i.test(glob) || glob === '*') problems.push(`UPSTREAM_HOSTS: "${glob}" must be a host name or glob such as *.qcloud.com (a bare * is not allowed)`);
  }

  const jwksUrl = get('AUTH_JWKS_URL');
  const publicKeyFile = get('AUTH_PUBLIC_KEY_FILE');
  const hmacSecretFile = get('AUTH_HMAC_SECRET_FILE');
  const algorithms = splitList(get('AUTH_ALGORITHMS') ?? 'RS256,ES256,EdDSA');
  // The verifier's own check: a list accepted here never stops the gateway at start.
  const algorithmCheck = checkAlgorithms(algorithms, { hmacSecret: hmacSecretFile !== undefined });
  // Public keys are needed unless the list is HMAC alone.
  const hmacOnly = algorithmCheck.accepted.length > 0 && algorithmCheck.accepted.every(isHmacAlgorithm);
  if (!hmacOnly && (jwksUrl === undefined) === (publicKeyFile === undefined)) {
    problems.push('Exactly one of AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE is required: where the company IdP publishes its signing keys');
  }
  if (hmacOnly && (jwksUrl !== undefined || publicKeyFile !== undefined)) {
    problems.push('AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE is set but AUTH_ALGORITHMS lists no asymmetric algorithm to use its keys with');
  }
  if (jwksUrl !== undefined) {
    const { problem } = checkJwksUrl(jwksUrl);
    if (problem !== undefined) problems.push(`AUTH_JWKS_URL ${problem}`);
  }
  const issuer = required('AUTH_ISSUER', 'the `iss` your IdP puts in tokens');
  const audience = required('AUTH_AUDIENCE', 'the `aud` your IdP puts in tokens for this gateway');
  for (const problem of algorithmCheck.problems) problems.push(`AUTH_ALGORITHMS: ${problem}`);
  if (hmacSecretFile !== undefined) {
    // Read here only to check it; the secret itself never enters the configuration object.
    let secret: Uint8Array | undefined;
    try {
      secret = secretFromFile(readSecretFile(hmacSecretFile));
    } catch (error) {
      problems.push(`AUTH_HMAC_SECRET_FILE: cannot read ${hmacSecretFile}: ${(error as Error).message}`);
    }
    if (secret !== undefined) {
      for (const problem of hmacSecretProblems(secret, algorithmCheck.accepted)) problems.push(`AUTH_HMAC_SECRET_FILE ${problem}`);
      secret.fill(0);
    }
    if (!algorithmCheck.accepted.some(isHmacAlgorithm)) {
      problems.push(`AUTH_HMAC_SECRET_FILE is set but AUTH_ALGORITHMS lists no ${HMAC_ALGORITHMS.slice(0, -1).join(', ')} or ${HMAC_ALGORITHMS.at(-1)}: remove the secret, or list the algorithm your IdP signs with`);
    }
  }
  const tokenHeader = get('AUTH_TOKEN_HEADER');
  if (tokenHeader !== undefined && !/^[A-Za-z0-9-]+$/.test(tokenHeader)) problems.push(`AUTH_TOKEN_HEADER: "${tokenHeader}" is not a header name`);
  const tokenCookie = get('AUTH_TOKEN_COOKIE');
  if (tokenCookie !== undefined && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(tokenCookie)) problems.push(`AUTH_TOKEN_COOKIE: "${tokenCookie}" is not a cookie name`);
  const loginUrl = url('AUTH_LOGIN_URL', undefined, ['https:', 'http:']);
  const endAtExpiryRaw = (get('AUTH_END_SESSION_AT_EXPIRY') ?? 'false').toLowerCase();
  if (endAtExpiryRaw !== 'true' && endAtExpiryRaw !== 'false') problems.push(`AUTH_END_SESSION_AT_EXPIRY must be true or false (got "${endAtExpiryRaw}")`);

  const policyFile = required('POLICY_FILE', 'the YAML file saying who may open which instance');

  const instanceListRegions = splitList(get('INSTANCE_LIST_REGIONS') ?? '');
  for (const listRegion of instanceListRegions) {
    if (!/^[a-z]{2,3}(-[a-z]+)+(-\d+)?$/.test(listRegion)) problems.push(`INSTANCE_LIST_REGIONS: "${listRegion}" is not a region name like ap-guangzhou`);
  }

  // The proxy convention is older than 12-factor: both spellings are honoured, upper case first.
  const proxyRaw = get('HTTPS_PROXY') ?? nonEmpty(env.https_proxy);
  let httpsProxy: URL | undefined;
  if (proxyRaw !== undefined) {
    try {
      httpsProxy = new URL(proxyRaw);
      if (httpsProxy.protocol !== 'http:' && httpsProxy.protocol !== 'https:') throw new Error('scheme must be http: or https:');
    } catch (error) {
      // A proxy URL may carry credentials: never echoed back.
      problems.push(`HTTPS_PROXY must be an http:// or https:// URL (${(error as Error).message})`);
      httpsProxy = undefined;
    }
  }
  const noProxy = get('NO_PROXY') ?? nonEmpty(env.no_proxy) ?? '';

  const logLevel = get('LOG_LEVEL') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) problems.push(`LOG_LEVEL must be debug, info, warn or error (got "${logLevel}")`);

  const auditStdout = get('AUDIT_STDOUT') ?? 'true';
  if (auditStdout !== 'true' && auditStdout !== 'false') problems.push(`AUDIT_STDOUT must be true or false (got "${auditStdout}")`);
  const auditRedisStream = get('AUDIT_REDIS_STREAM');
  if (auditRedisStream !== undefined && redisUrl === undefined) problems.push('AUDIT_REDIS_STREAM needs REDIS_URL: the stream lives in that Redis');
  const auditOnFailure = get('AUDIT_ON_FAILURE') ?? 'refuse';
  if (auditOnFailure !== 'refuse' && auditOnFailure !== 'continue') problems.push(`AUDIT_ON_FAILURE must be refuse or continue (got "${auditOnFailure}")`);

  const config: GatewayConfig = {
    port: integer('PORT', 8080, 0, 65535),
    host: get('HOST') ?? '0.0.0.0',
    publicUrl,
    allowedOrigins,
    trustProxy,
    redisUrl,
    redisTopology,
    keyPrefix: get('REDIS_KEY_PREFIX') ?? 'vnc-gateway:',
    limitsOnRedisFailure: limitsOnRedisFailure as GatewayConfig['limitsOnRedisFailure'],
    userSessionsPerMinute: integer('USER_SESSIONS_PER_MINUTE', 30, 1, 10_000),
    userMaxSessions: integer('USER_MAX_SESSIONS', 10, 1, 10_000),
    sessionTtlSeconds: integer('SESSION_TTL_S', 30, 1, 3600),
    tencent: {
      secretId,
      secretKey,
      sessionToken: get('TENCENTCLOUD_SESSION_TOKEN'),
      profilePaths,
      metadataUrl: metadataUrl ?? new URL(DEFAULT_METADATA_URL),
      instanceRegions: instanceRegions.rules,
      accounts,
      connectDeadlineMs: integer('SESSION_CONNECT_DEADLINE_MS', 8000, 1000, 14_000),
      region,
      lighthouseEndpoint: lighthouseEndpoint ?? new URL('https://lighthouse.tencentcloudapi.com'),
      cvmEndpoint: cvmEndpoint ?? new URL('https://cvm.tencentcloudapi.com'),
      apiTimeoutMs: integer('TENCENTCLOUD_API_TIMEOUT_MS', 5000, 100, 60_000),
    },
    upstreamHosts,
    upstreamConnectTimeoutMs: integer('UPSTREAM_CONNECT_TIMEOUT_MS', 10_000, 500, 14_000),
    relay: {
      maxClientFrameBytes: integer('MAX_CLIENT_FRAME_BYTES', 65_536, 1024, 16 * 1024 * 1024),
      maxUpstreamFrameBytes: integer('MAX_UPSTREAM_FRAME_BYTES', 16 * 1024 * 1024, 65_536, 256 * 1024 * 1024),
      keepaliveIntervalSeconds: integer('KEEPALIVE_INTERVAL_S', 30, 0, 3600),
      idleTimeoutSeconds: integer('IDLE_TIMEOUT_S', 1800, 0, 7 * 86_400),
      maxSessionSeconds: integer('MAX_SESSION_S', 43_200, 0, 7 * 86_400),
      // Above the relay's 1 MiB high watermark the upstream is paused, so a larger bound is never reached.
      slowConsumerBytes: integer('SLOW_CONSUMER_BYTES', 524_288, 16_384, 1024 * 1024),
      slowConsumerSeconds: integer('SLOW_CONSUMER_S', 30, 1, 3600),
    },
    shutdownGraceSeconds: integer('SHUTDOWN_GRACE_S', 30, 0, 3600),
    egress: { httpsProxy, noProxy },
    auth: {
      jwksUrl,
      publicKeyFile,
      hmacSecretFile,
      issuer,
      audience,
      algorithms,
      tokenHeader,
      tokenCookie,
      groupsClaim: get('AUTH_GROUPS_CLAIM') ?? 'groups',
      clockToleranceSeconds: integer('AUTH_CLOCK_TOLERANCE_S', 30, 0, 300),
      loginUrl: loginUrl?.href,
      jwksCacheSeconds: integer('AUTH_JWKS_CACHE_S', 600, 1, 86_400),
      failuresPerMinute: integer('AUTH_FAILURES_PER_MINUTE', 20, 1, 100_000),
      endSessionAtExpiry: endAtExpiryRaw === 'true',
    },
    policyFile,
    ticketTtlSeconds: integer('TICKET_TTL_S', 30, 1, 30),
    instanceConnectsPerMinute: integer('INSTANCE_CONNECTS_PER_MINUTE', 30, 1, 30),
    apiRequestsPerSecond: integer('API_REQUESTS_PER_SECOND', 10, 1, 10),
    instanceListRegions: [...new Set(instanceListRegions)],
    audit: {
      stdout: auditStdout !== 'false',
      file: get('AUDIT_FILE'),
      redisStream: auditRedisStream,
      redisMaxLen: integer('AUDIT_REDIS_MAXLEN', 1_000_000, 0, 1_000_000_000),
      redisMaxAgeSeconds: integer('AUDIT_REDIS_MAX_AGE_S', 0, 0, 100 * 365 * 86_400),
      onFailure: auditOnFailure as AuditConfig['onFailure'],
    },
    logLevel: logLevel as GatewayConfig['logLevel'],
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

function splitList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** True for a regular file (symlinks followed, as Kubernetes mounts secrets) this process can read. */
function isReadableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, fsConstants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
