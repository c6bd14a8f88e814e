// The Tencent Cloud API 3.0 endpoint: TC3 verification, products and versions, limits, and the two actions.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SimApiError, errorBody, successBody } from './api-error.js';
import {
  PRODUCT_VERSIONS,
  isKnownRegion,
  isWellFormedInstanceId,
  productOfInstanceId,
  reportedState,
  vncStateError,
  type Product,
  type SimInstance,
} from './instances.js';
import type { SlidingWindowLimiter } from './sliding-window.js';
import { canonicalRequest, expectedTc3Signature, parseTc3Authorization, signaturesEqual } from './tc3-verify.js';
import type { VncTokenStore } from './vnc-tokens.js';

/** Credentials the simulator accepts. */
export interface SimAccount {
  secretId: string;
  secretKey: string;
  /** When set, requests must carry exactly this `X-TC-Token` (temporary credentials). */
  token?: string;
  /** Temporary credentials stop working at this time (simulator clock, ms): AuthFailure.TokenFailure. */
  expiresAtMs?: number;
  /** The account (UIN) these keys belong to; Tencent's per-second limits count per account. Default: the secret id. */
  uin?: string;
}

/** One API call as the simulator saw it. */
export interface ApiCallRecord {
  /** Injected-clock time the request was handled. */
  atMs: number;
  /** `X-TC-Action` as received ('' when absent). */
  action: string;
  /** Credential-scope service ('' when the Authorization header could not be parsed). */
  service: string;
  secretId?: string;
  instanceId?: string;
  /** `X-TC-Region` as received. */
  region?: string;
  /** `'ok'` or the Tencent error code answered. */
  code: string;
  requestId: string;
}

/** An error to answer instead of the normal DescribeInstanceVncUrl result. */
export interface InjectedError {
  code: string;
  message?: string;
  /** Only calls for this instance match; any instance when omitted. */
  instanceId?: string;
  /** How many matching calls answer this error (default 1). */
  count?: number;
  /** Instead of answering, drop the connection (a network failure); `code` is then only recorded. */
  drop?: boolean;
  /** Instead of answering, never answer (a hung API): the caller's timeout must end the call; `code` is only recorded. */
  hang?: boolean;
}

/** Thrown to hang up without an answer (an injected network failure), or to never answer (`hang`). */
class SimDropConnection extends Error {
  constructor(readonly hang = false) {
    super();
  }
}

/** What the API handler works on; owned by simulator/index.ts. */
export interface ApiServerDeps {
  /**
   * The one product this listener serves, as each product has its own endpoint on Tencent
   * (lighthouse.tencentcloudapi.com, cvm.tencentcloudapi.com); unset: both (one URL for everything).
   */
  product?: Product;
  accounts: readonly SimAccount[];
  instances: ReadonlyMap<string, SimInstance>;
  now: () => number;
  /** Keyed per account, product and action: "10 requests per second for this API". */
  requestLimiter: SlidingWindowLimiter;
  requestsPerSecond: number;
  /** Keyed per instance: VNC URLs issued in any 60 s. */
  connectLimiter: SlidingWindowLimiter;
  connectsPerMinute: number;
  tokens: VncTokenStore;
  /** The encoded `InstanceVncUrl` value for a token. */
  vncUrlFor(token: string): string;
  /** Removes and returns the first injected error matching this instance, if any. */
  takeInjectedError(instanceId: string): { code: string; message: string; drop?: boolean; hang?: boolean } | undefined;
  calls: ApiCallRecord[];
}

// Tencent accepts TC3 bodies up to 10 MB; more is RequestSizeLimitExceeded.
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const MAX_CLOCK_SKEW_S = 300;
const ACTIONS = new Set(['DescribeInstanceVncUrl', 'DescribeInstances']);

/** Creates the `request` listener for the API server. */
export function createApiRequestHandler(deps: ApiServerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const requestId = randomUUID();
      const record: ApiCallRecord = {
        atMs: deps.now(),
        action: headerString(req, 'x-tc-action') ?? '',
        service: '',
        code: 'ok',
        requestId,
      };
      const region = headerString(req, 'x-tc-region');
      if (region !== undefined) record.region = region;
      let body: string;
      try {
        if (size > MAX_BODY_BYTES) throw new SimApiError('RequestSizeLimitExceeded', 'The request body exceeds 10 MB.');
        const fields = handle(deps, req, Buffer.concat(chunks), record);
        body = successBody(fields, requestId);
      } catch (error) {
        if (error instanceof SimDropConnection) {
          record.code = error.hang ? 'hung' : 'dropped';
          deps.calls.push(record);
          // A hung call stays open until the caller gives up (or the simulator closes).
          if (!error.hang) res.socket?.destroy();
          return;
        }
        const apiError = error instanceof SimApiError ? error : new SimApiError('InternalError');
        record.code = apiError.code;
        body = errorBody(apiError.code, apiError.message, requestId);
      }
      deps.calls.push(record);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  };
}

function headerString(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function handle(deps: ApiServerDeps, req: IncomingMessage, rawBody: Buffer, record: ApiCallRecord): Record<string, unknown> {
  const url = new URL(req.url ?? '/', 'http://simulator.invalid');
  if (req.method !== 'POST') {
    throw new SimApiError('UnsupportedProtocol', `The simulator accepts only POST / (got ${req.method ?? '?'}).`);
  }
  if (url.pathname !== '/') throw new SimApiError('InvalidRequest', `The request path must be "/" (got "${url.pathname}").`);
  const contentType = headerString(req, 'content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(contentType)) {
    throw new SimApiError('InvalidRequest', 'TC3-HMAC-SHA256 POST requests must have Content-Type application/json.');
  }

  const { account, service } = authenticate(deps, req, url, rawBody, record);
  const product = service;

  const version = headerString(req, 'x-tc-version');
  if (version === undefined || version === '') throw new SimApiError('MissingParameter', 'The request is missing a required parameter `Version`.');
  if (version !== PRODUCT_VERSIONS[product]) {
    throw new SimApiError('NoSuchVersion', `The requested version \`${version}\` of service \`${product}\` does not exist.`);
  }
  const action = record.action;
  if (action === '') throw new SimApiError('MissingParameter', 'The request is missing a required parameter `Action`.');
  if (!ACTIONS.has(action)) {
    throw new SimApiError('InvalidAction', `The action \`${action}\` is not supported by service \`${product}\` in this simulator.`);
  }
  const region = record.region;
  if (region === undefined || region === '') {
    if (product === 'cvm') throw new SimApiError('MissingParameter', 'The request is missing a required parameter `Region`.');
  } else if (!isKnownRegion(region)) {
    throw new SimApiError('UnsupportedRegion', `The region \`${region}\` is not supported.`);
  }

  // Tencent counts "10 requests per second for this API" per account and interface: Lighthouse's
  // DescribeInstanceVncUrl and CVM's are two interfaces, each with its own budget.
  const limit = deps.requestLimiter.tryAcquire(`${account.uin ?? account.secretId}|${product}|${action}`);
  if (!limit.allowed) {
    throw new SimApiError(
      'RequestLimitExceeded',
      `Your current request times equals to \`${limit.inWindow + 1}\` in a second, which exceeds the frequency limit \`${deps.requestsPerSecond}\` for a second. Please reduce the frequency of calls.`,
    );
  }

  const params = parseJsonObject(rawBody);
  if (action === 'DescribeInstanceVncUrl') return describeInstanceVncUrl(deps, product, region, params, record);
  return describeInstances(deps, product, region, params);
}

function authenticate(
  deps: ApiServerDeps,
  req: IncomingMessage,
  url: URL,
  rawBody: Buffer,
  record: ApiCallRecord,
): { account: SimAccount; service: Product } {
  const parsed = parseTc3Authorization(headerString(req, 'authorization'));
  if (!parsed.ok) throw new SimApiError('AuthFailure.InvalidAuthorization', `Authorization in the request header is invalid: ${parsed.reason}.`);
  const auth = parsed.value;
  record.service = auth.service;
  record.secretId = auth.secretId;
  if (!auth.signedHeaders.includes('content-type') || !auth.signedHeaders.includes('host')) {
    throw new SimApiError('AuthFailure.InvalidAuthorization', 'SignedHeaders must include content-type and host.');
  }

  const timestampHeader = headerString(req, 'x-tc-timestamp');
  if (timestampHeader === undefined || timestampHeader === '') {
    throw new SimApiError('MissingParameter', 'The request is missing a required parameter `Timestamp`.');
  }
  if (!/^\d{1,12}$/.test(timestampHeader)) throw new SimApiError('InvalidParameter', 'X-TC-Timestamp must be an integer number of seconds.');
  const timestamp = Number(timestampHeader);
  const nowS = Math.floor(deps.now() / 1000);
  if (Math.abs(nowS - timestamp) > MAX_CLOCK_SKEW_S) {
    throw new SimApiError(
      'AuthFailure.SignatureExpire',
      `Signature expired. Timestamp and server time cannot differ by more than five minutes. (timestamp ${timestamp}, server time ${nowS})`,
    );
  }

  const account = deps.accounts.find((a) => a.secretId === auth.secretId);
  if (account === undefined) throw new SimApiError('AuthFailure.SecretIdNotFound');

  if (auth.service !== 'lighthouse' && auth.service !== 'cvm') {
    throw new SimApiError('AuthFailure.InvalidAuthorization', `The credential-scope service \`${auth.service}\` is not a product this endpoint serves (lighthouse, cvm).`);
  }
  // A request for the other product on a product's own endpoint: the two endpoints were mixed up.
  if (deps.product !== undefined && auth.service !== deps.product) {
    throw new SimApiError('AuthFailure.InvalidAuthorization', `This endpoint serves only \`${deps.product}\`; the credential-scope service \`${auth.service}\` belongs to another endpoint.`);
  }
  const scopeDate = new Date(timestamp * 1000).toISOString().slice(0, 10);
  if (auth.date !== scopeDate) {
    throw new SimApiError(
      'AuthFailure.SignatureFailure',
      `The credential scope date \`${auth.date}\` is not the UTC date of X-TC-Timestamp (\`${scopeDate}\`).`,
    );
  }
  const canonical = canonicalRequest(
    { method: req.method ?? 'POST', path: url.pathname, query: url.search.replace(/^\?/, ''), headers: req.headers, body: rawBody },
    auth.signedHeaders,
  );
  if (canonical === undefined) {
    throw new SimApiError('AuthFailure.InvalidAuthorization', 'A header listed in SignedHeaders is missing from the request.');
  }
  const expected = expectedTc3Signature(account.secretKey, auth, timestampHeader, canonical);
  if (!signaturesEqual(expected, auth.signature)) throw new SimApiError('AuthFailure.SignatureFailure');

  const token = headerString(req, 'x-tc-token');
  if (account.token !== undefined ? token !== account.token : token !== undefined && token !== '') {
    throw new SimApiError(
      'AuthFailure.TokenFailure',
      account.token !== undefined && (token === undefined || token === '')
        ? 'Token error: these are temporary credentials and X-TC-Token is missing.'
        : 'Token error: X-TC-Token does not match the SecretId.',
    );
  }
  if (account.expiresAtMs !== undefined && deps.now() >= account.expiresAtMs) {
    throw new SimApiError('AuthFailure.TokenFailure', 'Token error: the temporary credentials have expired.');
  }
  return { account, service: auth.service };
}

function parseJsonObject(rawBody: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(rawBody.toString('utf8'));
  } catch {
    throw new SimApiError('InvalidParameter', 'The request body is not valid JSON.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SimApiError('InvalidParameter', 'The request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

function rejectUnknownParameters(params: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(params)) {
    if (!allowed.includes(key)) throw new SimApiError('UnknownParameter', `The parameter \`${key}\` is not recognized.`);
  }
}

function findInstance(deps: ApiServerDeps, product: Product, region: string | undefined, id: string): SimInstance | undefined {
  const instance = deps.instances.get(id);
  if (instance === undefined || productOfInstanceId(instance.id) !== product) return undefined;
  // An instance pinned to a region is invisible from any other region, as it is on Tencent.
  if (instance.region !== undefined && region !== undefined && region !== '' && instance.region !== region) return undefined;
  return instance;
}

function describeInstanceVncUrl(
  deps: ApiServerDeps,
  product: Product,
  region: string | undefined,
  params: Record<string, unknown>,
  record: ApiCallRecord,
): Record<string, unknown> {
  rejectUnknownParameters(params, ['InstanceId']);
  const id = params.InstanceId;
  if (id === undefined || id === null || id === '') {
    throw new SimApiError('MissingParameter', 'The request is missing a required parameter `InstanceId`.');
  }
  if (typeof id !== 'string') throw new SimApiError('InvalidParameter', 'The parameter `InstanceId` must be a string.');
  record.instanceId = id;

  const injected = deps.takeInjectedError(id);
  if (injected?.drop === true || injected?.hang === true) throw new SimDropConnection(injected.hang === true);
  if (injected !== undefined) throw new SimApiError(injected.code, injected.message);

  if (!isWellFormedInstanceId(product, id)) {
    throw product === 'lighthouse'
      ? new SimApiError('InvalidParameterValue.InstanceIdMalformed', `Invalid parameter value: the instance ID \`${id}\` format is invalid.`)
      : new SimApiError('InvalidInstanceId.Malformed', `The instance ID \`${id}\` is malformed.`);
  }
  const instance = findInstance(deps, product, region, id);
  if (instance === undefined) {
    throw product === 'lighthouse'
      ? new SimApiError('ResourceNotFound.InstanceIdNotFound', `The instance ID \`${id}\` does not exist.`)
      : new SimApiError('InvalidInstanceId.NotFound', `The instance ID \`${id}\` is not found.`);
  }
  const stateError = vncStateError(product, id, instance.state);
  if (stateError !== undefined) throw new SimApiError(stateError.code, stateError.message);

  const connect = deps.connectLimiter.tryAcquire(id);
  if (!connect.allowed) {
    throw new SimApiError(
      'LimitExceeded',
      `The VNC URL of instance \`${id}\` was requested ${connect.inWindow} times in the last 60 seconds; at most ${deps.connectsPerMinute} connection attempts per minute are allowed. Retry in ${Math.ceil(connect.retryAfterMs / 1000)} s.`,
    );
  }
  return { InstanceVncUrl: deps.vncUrlFor(deps.tokens.issue(id)) };
}

function integerParam(params: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const value = params[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new SimApiError('InvalidParameter', `The parameter \`${name}\` must be an integer.`);
  if (value < min || value > max) {
    throw new SimApiError('InvalidParameterValue', `The parameter \`${name}\` must be between ${min} and ${max} (got ${value}).`);
  }
  return value;
}

function stringArrayParam(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw new SimApiError('InvalidParameter', `The parameter \`${name}\` must be an array of strings.`);
  }
  return value;
}

// Minimal DescribeInstances: InstanceIds, Offset/Limit and the name/id/state filters, for the instance picker.
function describeInstances(
  deps: ApiServerDeps,
  product: Product,
  region: string | undefined,
  params: Record<string, unknown>,
): Record<string, unknown> {
  rejectUnknownParameters(params, ['InstanceIds', 'Offset', 'Limit', 'Filters']);
  const offset = integerParam(params, 'Offset', 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = integerParam(params, 'Limit', 20, 1, 100);
  let ids: string[] | undefined;
  if (params.InstanceIds !== undefined) {
    ids = stringArrayParam(params.InstanceIds, 'InstanceIds');
    if (ids.length > 100) throw new SimApiError('InvalidParameterValue.LimitExceeded', 'At most 100 InstanceIds per request.');
    for (const id of ids) {
      if (!isWellFormedInstanceId(product, id)) {
        throw product === 'lighthouse'
          ? new SimApiError('InvalidParameterValue.InstanceIdMalformed', `Invalid parameter value: the instance ID \`${id}\` format is invalid.`)
          : new SimApiError('InvalidInstanceId.Malformed', `The instance ID \`${id}\` is malformed.`);
      }
    }
  }
  const filters: { name: string; values: string[] }[] = [];
  if (params.Filters !== undefined) {
    if (ids !== undefined) throw new SimApiError('InvalidParameter', 'InstanceIds and Filters cannot be given together.');
    if (!Array.isArray(params.Filters)) throw new SimApiError('InvalidParameter', 'The parameter `Filters` must be an array.');
    for (const filter of params.Filters as unknown[]) {
      const f = filter as { Name?: unknown; Values?: unknown } | null;
      if (f === null || typeof f !== 'object' || typeof f.Name !== 'string') throw new SimApiError('InvalidFilter', 'Each filter needs a Name.');
      if (!['instance-id', 'instance-name', 'instance-state'].includes(f.Name)) {
        throw new SimApiError('InvalidFilter', `The filter \`${f.Name}\` is not supported by the simulator.`);
      }
      filters.push({ name: f.Name, values: stringArrayParam(f.Values, 'Filters.Values') });
    }
  }
  const matches = [...deps.instances.values()].filter((instance) => {
    if (findInstance(deps, product, region, instance.id) === undefined) return false;
    if (ids !== undefined && !ids.includes(instance.id)) return false;
    return filters.every(({ name, values }) => {
      const field =
        name === 'instance-id' ? instance.id : name === 'instance-name' ? (instance.name ?? instance.id) : reportedState(instance.state);
      return values.includes(field);
    });
  });
  return {
    TotalCount: matches.length,
    InstanceSet: matches.slice(offset, offset + limit).map((instance) => ({
      InstanceId: instance.id,
      InstanceName: instance.name ?? instance.id,
      InstanceState: reportedState(instance.state),
    })),
  };
}
