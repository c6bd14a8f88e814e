// The Tencent Cloud API 3.0 error envelope: error codes, their default messages, and the JSON body.

/** An API-level failure the simulator answers with HTTP 200 and `{"Response":{"Error":…}}`, as Tencent does. */
export class SimApiError extends Error {
  /** @param code Tencent error code, e.g. `AuthFailure.SignatureFailure`. */
  constructor(
    readonly code: string,
    message?: string,
  ) {
    super(message ?? DEFAULT_MESSAGES[code] ?? code);
    this.name = 'SimApiError';
  }
}

// Wording follows Tencent's Common Error Codes page where it has one, so logs look familiar.
const DEFAULT_MESSAGES: Readonly<Record<string, string>> = {
  'AuthFailure.InvalidAuthorization': 'Authorization in the request header is invalid.',
  'AuthFailure.SecretIdNotFound':
    'The SecretId is not found, please ensure that your SecretId is correct. Key does not exist.',
  'AuthFailure.SignatureExpire':
    'Signature expired. Timestamp and server time cannot differ by more than five minutes.',
  'AuthFailure.SignatureFailure':
    'The provided credentials could not be validated. Please check your signature is correct.',
  'AuthFailure.TokenFailure': 'Token error: the session token is missing, invalid or does not match the SecretId.',
  InternalError: 'Internal error.',
  InvalidRequest: 'The request is invalid.',
  UnsupportedProtocol: 'HTTP(S) request protocol error; only POST with application/json is supported.',
};

/** Serialises a Tencent error response body. */
export function errorBody(code: string, message: string, requestId: string): string {
  return JSON.stringify({ Response: { Error: { Code: code, Message: message }, RequestId: requestId } });
}

/** Serialises a Tencent success response body: the action's fields plus `RequestId`. */
export function successBody(fields: Readonly<Record<string, unknown>>, requestId: string): string {
  return JSON.stringify({ Response: { ...fields, RequestId: requestId } });
}
