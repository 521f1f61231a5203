import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The call notifications Zadarma posts to the "PBX call notifications" URL. */
export const ZADARMA_EVENTS = [
  'NOTIFY_START',
  'NOTIFY_INTERNAL',
  'NOTIFY_ANSWER',
  'NOTIFY_END',
  'NOTIFY_OUT_START',
  'NOTIFY_OUT_END',
  'NOTIFY_RECORD',
  'NOTIFY_IVR',
  // Undocumented, seen in the wild; signed like NOTIFY_INTERNAL (assumed). Accepted, never stored.
  'NOTIFY_INTERNAL_END',
] as const;
export type ZadarmaEvent = (typeof ZADARMA_EVENTS)[number];

export function isZadarmaEvent(value: unknown): value is ZadarmaEvent {
  return typeof value === 'string' && (ZADARMA_EVENTS as readonly string[]).includes(value);
}

/** Which fields, concatenated without separator, each notification's Signature covers. */
export const SIGNED_FIELDS: Record<ZadarmaEvent, readonly string[]> = {
  NOTIFY_START: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_INTERNAL: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_INTERNAL_END: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_ANSWER: ['caller_id', 'destination', 'call_start'],
  NOTIFY_END: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_OUT_START: ['internal', 'destination', 'call_start'],
  NOTIFY_OUT_END: ['internal', 'destination', 'call_start'],
  NOTIFY_RECORD: ['pbx_call_id', 'call_id_with_rec'],
  NOTIFY_IVR: ['caller_id', 'called_did', 'call_start'],
};

/** A missing field signs as empty, as PHP's string concatenation of an unset key does. */
export function signatureString(
  event: ZadarmaEvent,
  fields: Readonly<Record<string, unknown>>,
): string {
  return SIGNED_FIELDS[event]
    .map((name) => {
      const v = fields[name];
      return typeof v === 'string' ? v : '';
    })
    .join('');
}

/**
 * base64 of the lowercase hex HMAC-SHA1, as PHP's `base64_encode(hash_hmac('sha1', …))` gives:
 * 56 characters. Both webhooks and REST requests use this form.
 */
export function zadarmaHmac(secret: string, data: string): string {
  const hex = createHmac('sha1', secret).update(data, 'utf8').digest('hex');
  return Buffer.from(hex, 'utf8').toString('base64');
}

function constantTimeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  // The expected length (56) is public; only the content must not leak through timing.
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

export type WebhookCheck = 'ok' | 'mismatch' | 'raw_base64';

/**
 * Checks a notification's Signature header against one API secret. `raw_base64` means the
 * value is base64 of the raw digest (what the official TS SDK computes): still a failure, but
 * worth a log line because it points at a sender built on that SDK rather than at an attacker.
 */
export function checkWebhookSignature(
  secret: string,
  event: ZadarmaEvent,
  fields: Readonly<Record<string, unknown>>,
  signature: string,
): WebhookCheck {
  const data = signatureString(event, fields);
  if (constantTimeEqual(zadarmaHmac(secret, data), signature)) return 'ok';
  const raw = createHmac('sha1', secret).update(data, 'utf8').digest('base64');
  return constantTimeEqual(raw, signature) ? 'raw_base64' : 'mismatch';
}

/**
 * PHP `urlencode` (what `http_build_query` with PHP_QUERY_RFC1738 uses): only [A-Za-z0-9_.-]
 * stay literal, a space is "+". encodeURIComponent leaves !'()*~ alone, so those are escaped
 * here; otherwise a value containing them would be signed differently from Zadarma's check.
 */
export function phpUrlencode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

export type ApiParams = Readonly<Record<string, string | number | boolean | undefined>>;

/** Params sorted by key (byte order, as PHP's ksort does for ASCII keys), undefined dropped. */
export function buildQuery(params: ApiParams): string {
  return Object.keys(params)
    .filter((k) => params[k] !== undefined)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((k) => `${phpUrlencode(k)}=${phpUrlencode(String(params[k]))}`)
    .join('&');
}

export interface SignedApiRequest {
  /** The exact query string that was signed; send it unchanged. */
  query: string;
  /** Value of the Authorization header: `<key>:<signature>`. */
  authorization: string;
}

/** Zadarma REST v1 signing: HMAC over `method_path + query + md5(query)`. */
export function signApiRequest(
  key: string,
  secret: string,
  methodPath: string,
  params: ApiParams,
): SignedApiRequest {
  const query = buildQuery(params);
  const md5 = createHash('md5').update(query, 'utf8').digest('hex');
  const signature = zadarmaHmac(secret, `${methodPath}${query}${md5}`);
  return { query, authorization: `${key}:${signature}` };
}
