/**
 * The hub's public API, as the console uses it. The credential lives in session storage
 * (gone with the tab) and travels in a header, never in a URL.
 */

export type Session =
  | { kind: 'key'; tenantId: string; token: string }
  | { kind: 'admin'; token: string; tenantId: string | null };

const STORAGE_KEY = 'hub-console.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(STORAGE_KEY);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function authHeaders(session: Session): Record<string, string> {
  return session.kind === 'admin'
    ? { authorization: `Bearer ${session.token}` }
    : { 'x-api-key': session.token };
}

/** The hub's error body names every bad field in `message` (a string or a list). */
async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { message?: string | string[] };
    if (Array.isArray(body.message)) message = body.message.join('; ');
    else if (body.message) message = body.message;
  } catch {
    // not JSON: the status line says it
  }
  return new ApiError(res.status, message);
}

export async function request<T>(
  session: Session | null,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = session ? authHeaders(session) : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** A file the API answers (CSV export), saved through the browser. */
export async function download(session: Session, path: string, filename: string): Promise<void> {
  const res = await fetch(path, { headers: authHeaders(session), cache: 'no-store' });
  if (!res.ok) throw await errorOf(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * Reads a server-sent event stream with fetch (EventSource cannot send the credential in a
 * header) and reconnects after a drop, until `stop` is called.
 */
export function openStream(
  session: Session,
  path: string,
  onEvent: (event: string, data: string) => void,
  onState: (live: boolean) => void,
): () => void {
  const abort = new AbortController();
  let retryMs = 1000;
  const run = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      try {
        const res = await fetch(path, {
          headers: { ...authHeaders(session), accept: 'text/event-stream' },
          signal: abort.signal,
          cache: 'no-store',
        });
        if (!res.ok || !res.body) throw await errorOf(res);
        onState(true);
        retryMs = 1000;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
            }
            if (data.length) onEvent(event, data.join('\n'));
          }
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
          onState(false);
          return;
        }
      }
      onState(false);
      await new Promise((resolve) => setTimeout(resolve, retryMs));
      retryMs = Math.min(retryMs * 2, 30_000);
    }
  };
  void run();
  return () => abort.abort();
}

export interface FieldDescription {
  name: string;
  description: string;
  required: boolean;
  secret: boolean;
  example?: string | number | boolean;
  enum?: readonly string[];
}

export interface ConnectorManifest {
  id: string;
  displayName: string;
  capabilities: string[];
  auth: string;
  config: FieldDescription[];
  credentials: FieldDescription[];
}

export interface PbxSourceType {
  type: string;
  displayName: string;
  config: FieldDescription[];
  credentials: FieldDescription[];
  ingress: { path: string | null; signing: 'hub-signature' | 'pbx' | null };
  canOriginate: boolean;
}

export interface IntegrationSettings {
  popOnRinging: boolean;
  logCalls: boolean;
  attachRecordings: boolean;
  createLeadFor: 'missed' | 'unknown' | 'none';
  routeToResponsible: boolean;
}

export interface Integration {
  id: string;
  connector: string;
  enabled: boolean;
  config: Record<string, unknown>;
  settings: IntegrationSettings;
  status: string;
  statusMessage?: string | null;
  authorizeUrl?: string;
}

export interface PbxSource {
  id: string;
  type: string;
  config: Record<string, unknown>;
  status: string;
  statusMessage: string | null;
}

export interface Tenant {
  id: string;
  name: string;
  defaultCountry: string;
  timezone: string;
}

export interface Call {
  callId: string;
  direction: string;
  status: string;
  result: string | null;
  duration: number | null;
  from: string | null;
  to: string | null;
  extension: string | null;
  answeredBy: string | null;
  ringing: string[];
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  recordingLink: string | null;
  lastError: string | null;
  clientCode?: string;
}

export interface CallAction {
  status: string;
  externalId: string | null;
  attempts: number;
  lastError: string | null;
  updatedAt: string;
}

export interface CallDetail extends Call {
  events: { id: string; type: string; at: string; extension?: string; receivedAt: string }[];
  integrations?: {
    integrationId: string;
    connector: string;
    actions: Record<string, CallAction>;
  }[];
}

export interface Agent {
  extension: string;
  name?: string | null;
  mobile?: string | null;
  crmUsers: Record<string, string>;
}

export interface CrmUser {
  crmUserId: string;
  name: string;
  extension?: string;
  mobile?: string;
}

export interface StatsFigures {
  inbound: number;
  outbound: number;
  answered: number;
  missed: number;
  answerRate: number | null;
  avgWaitS: number | null;
  avgTalkS: number | null;
  talkS: number;
  calledBack: number;
}

export interface Stats {
  from: string;
  to: string;
  groupBy: 'agent' | 'line' | 'day' | 'hour';
  rows: (StatsFigures & { key: string; name?: string })[];
  totals: StatsFigures;
}
