import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { request, Session, Tenant } from './api';

export interface AppState {
  session: Session;
  tenantId: string;
  tenant: Tenant | null;
  /** A request to the hub with this session's credential. */
  api<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** `/v1/tenants/<id>` + rest. */
  tenantPath(rest: string): string;
}

export const App = createContext<AppState | null>(null);

export function useApp(): AppState {
  const state = useContext(App);
  if (!state) throw new Error('useApp outside a signed-in console');
  return state;
}

export function appState(session: Session, tenantId: string, tenant: Tenant | null): AppState {
  return {
    session,
    tenantId,
    tenant,
    api: (method, path, body) => request(session, method, path, body),
    tenantPath: (rest) => `/v1/tenants/${encodeURIComponent(tenantId)}${rest}`,
  };
}

export interface Loaded<T> {
  data?: T;
  error: Error | null;
  loading: boolean;
  reload(): void;
}

/** Loads once per change of `key` and on reload(); a stale answer never overwrites a newer one. */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error: Error | null; loading: boolean }>({
    error: null,
    loading: true,
  });
  const [round, setRound] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const mine = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === latest.current && setState({ data, error: null, loading: false }),
      (error: Error) =>
        mine === latest.current && setState((s) => ({ ...s, error, loading: false })),
    );
  }, [key, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { ...state, reload };
}

/** The route after `#/`, split at slashes. */
export function useRoute(): string[] {
  const read = () =>
    location.hash
      .replace(/^#\/?/, '')
      .split('?')[0]
      .split('/')
      .filter(Boolean)
      .map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export interface Action {
  busy: boolean;
  error: Error | null;
  /** Runs `work` once: busy meanwhile, its failure kept in `error`; true when it succeeded. */
  run(work: () => Promise<unknown>): Promise<boolean>;
}

/** A button's or a form's request: what every submit of the console does around its call. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const run = useCallback(async (work: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
      return true;
    } catch (err) {
      setError(err as Error);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run };
}
