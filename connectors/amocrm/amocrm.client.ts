import type { AxiosInstance, AxiosResponse } from 'axios';
import { fieldErrors, toConnectorError } from './amocrm.errors';

/** Vendor JSON shapes of the amoCRM API v4 subset the connector uses. */
export interface AmoPhoneField {
  field_code?: string | null;
  values?: { value?: string | number }[];
}

export interface AmoContact {
  id: number;
  name?: string;
  first_name?: string;
  last_name?: string;
  responsible_user_id?: number;
  created_at?: number;
  custom_fields_values?: AmoPhoneField[] | null;
  _embedded?: { leads?: { id: number }[] };
}

export interface AmoUser {
  id: number;
  name?: string;
  email?: string;
}

/** One item of POST /api/v4/calls. */
export interface AmoCall {
  direction: 'inbound' | 'outbound';
  uniq?: string;
  duration: number;
  source: string;
  link?: string;
  phone: string;
  call_result?: string;
  call_status?: number;
  call_responsible?: number;
  responsible_user_id?: number;
  created_by?: number;
  created_at?: number;
  request_id?: string;
}

/** One item of POST /api/v4/leads/unsorted/sip. */
export interface AmoUnsortedSip {
  source_uid: string;
  source_name: string;
  pipeline_id?: number;
  created_at?: number;
  request_id?: string;
  metadata: {
    uniq: string;
    from: string;
    phone: string;
    called_at: number;
    duration: number;
    link?: string;
    service_code: string;
    is_call_event_needed?: boolean;
    call_responsible?: number;
  };
  _embedded?: {
    leads?: { name?: string; responsible_user_id?: number }[];
    contacts?: { name?: string; first_name?: string; responsible_user_id?: number }[];
  };
}

export interface AmoUnsorted {
  uid: string;
  category?: string;
  created_at?: number;
  metadata?: { uniq?: string };
  _embedded?: { leads?: { id: number }[]; contacts?: { id: number }[] };
}

/** One item of POST /api/v4/leads/complex. */
export interface AmoComplexLead {
  name: string;
  responsible_user_id?: number;
  pipeline_id?: number;
  status_id?: number;
  _embedded?: {
    contacts?: (
      | { id: number }
      | { first_name?: string; responsible_user_id?: number; custom_fields_values?: unknown[] }
    )[];
    tags?: { name: string }[];
  };
}

export interface AmoLead {
  id: number;
  name?: string;
}

/** Pages of 250, the API's largest. */
const PAGE = 250;

/**
 * A small typed client for amoCRM API v4 (and the v2 events endpoint the screen pop needs).
 * Every failure leaves as a classified ConnectorError; 204 ("nothing found") reads as empty.
 */
export class AmocrmClient {
  constructor(
    private readonly api: () => Promise<AxiosInstance>,
    private readonly authField: string,
  ) {}

  async account(): Promise<{ id: number; subdomain?: string }> {
    return (await this.get<{ id: number; subdomain?: string }>('account', '/api/v4/account'))!;
  }

  /** Contacts a full-text query finds (phones included), with their leads; [] for 204. */
  async findContacts(query: string): Promise<AmoContact[]> {
    const data = await this.get<{ _embedded?: { contacts?: AmoContact[] } }>(
      'contacts',
      '/api/v4/contacts',
      { query, with: 'leads' },
    );
    return data?._embedded?.contacts ?? [];
  }

  async users(page: number): Promise<AmoUser[]> {
    const data = await this.get<{ _embedded?: { users?: AmoUser[] } }>('users', '/api/v4/users', {
      page,
      limit: PAGE,
    });
    return data?._embedded?.users ?? [];
  }

  /** The incoming-call notification to these users (amoCRM finds the caller's card itself). */
  async phoneCallEvent(phone: string, users: number[]): Promise<void> {
    await this.post('events', '/api/v2/events', {
      add: [{ type: 'phone_call', phone_number: phone, users }],
    });
  }

  /**
   * Logs calls. amoCRM refuses the whole request when it finds no contact or company for a
   * number: those items come back in `noEntity` (indexes), and nothing was added.
   */
  async addCalls(
    calls: AmoCall[],
  ): Promise<{ added: { id: number; request_id?: string }[]; noEntity: number[] }> {
    const res = await this.postTolerating<{
      _embedded?: { calls?: { id: number; request_id?: string }[] };
    }>('calls', '/api/v4/calls', calls, 'NotFound');
    return { added: res.data?._embedded?.calls ?? [], noEntity: res.refused };
  }

  /**
   * Adds incoming leads from calls. amoCRM keeps one incoming lead per call (`metadata.uniq`):
   * an item it already has comes back in `duplicates` (indexes), and nothing was added.
   */
  async addUnsortedSip(
    items: AmoUnsortedSip[],
  ): Promise<{ added: AmoUnsorted[]; duplicates: number[] }> {
    const res = await this.postTolerating<{ _embedded?: { unsorted?: AmoUnsorted[] } }>(
      'leads/unsorted/sip',
      '/api/v4/leads/unsorted/sip',
      items,
      'Duplicate',
    );
    return { added: res.data?._embedded?.unsorted ?? [], duplicates: res.refused };
  }

  /** The newest incoming leads from calls (the first page, newest first). */
  async recentUnsortedSip(): Promise<AmoUnsorted[]> {
    const data = await this.get<{ _embedded?: { unsorted?: AmoUnsorted[] } }>(
      'leads/unsorted',
      '/api/v4/leads/unsorted',
      { 'filter[category][]': 'sip', 'order[created_at]': 'desc', limit: PAGE },
    );
    return data?._embedded?.unsorted ?? [];
  }

  async addComplexLeads(leads: AmoComplexLead[]): Promise<{ id: number; contact_id?: number }[]> {
    const data = await this.post<{ id: number; contact_id?: number }[]>(
      'leads/complex',
      '/api/v4/leads/complex',
      leads,
    );
    return Array.isArray(data) ? data : [];
  }

  async findLeads(query: string): Promise<AmoLead[]> {
    const data = await this.get<{ _embedded?: { leads?: AmoLead[] } }>('leads', '/api/v4/leads', {
      query,
    });
    return data?._embedded?.leads ?? [];
  }

  private async get<T>(what: string, path: string, params?: object): Promise<T | null> {
    const api = await this.api();
    const res = await api.get<T>(path, { params }).catch((err: unknown) => {
      throw toConnectorError(err, what, this.authField);
    });
    return this.body(res);
  }

  private async post<T>(what: string, path: string, body: unknown): Promise<T | null> {
    const api = await this.api();
    const res = await api.post<T>(path, body).catch((err: unknown) => {
      throw toConnectorError(err, what, this.authField);
    });
    return this.body(res);
  }

  /** A POST whose 400 listing only `code` errors is an answer (the refused items), not a failure. */
  private async postTolerating<T>(
    what: string,
    path: string,
    body: unknown[],
    code: string,
  ): Promise<{ data: T | null; refused: number[] }> {
    const api = await this.api();
    try {
      return { data: this.body(await api.post<T>(path, body)), refused: [] };
    } catch (err) {
      const errors = fieldErrors(err);
      if (errors.length === 0 || errors.some((e) => e.code !== code)) {
        throw toConnectorError(err, what, this.authField);
      }
      return { data: null, refused: [...new Set(errors.map((e) => e.item))].sort((a, b) => a - b) };
    }
  }

  private body<T>(res: AxiosResponse<T>): T | null {
    if (res.status === 204) return null;
    return (res.data as unknown) === '' ? null : res.data;
  }
}
