import type { AxiosInstance, AxiosResponse } from 'axios';
import type { HttpClientOptions } from '../../src/connector-sdk';
import { toConnectorError, unsuccessfulReply } from './retailcrm.errors';

/** Vendor JSON shapes of the API subset the connector uses (RetailCRM API v5). */
export interface RcManager {
  id: number;
  firstName?: string;
  lastName?: string;
  patronymic?: string;
  email?: string;
  code?: string;
}

export interface RcCustomer {
  id: number;
  externalId?: string;
  firstName?: string;
  lastName?: string;
  patronymic?: string;
  email?: string;
  phones?: { number: string }[];
  managerId?: number;
}

export interface RcManagerResponse {
  success: boolean;
  manager?: RcManager;
  customer?: RcCustomer;
  links?: {
    newOrderLink?: string;
    lastOrderLink?: string;
    newCustomerLink?: string;
    customerLink?: string;
  };
}

export type RcEventType = 'in' | 'out' | 'hangup';
export type RcHangupStatus = 'answered' | 'busy' | 'cancel' | 'failed' | 'no answered';
export type RcCallResult = 'answered' | 'busy' | 'failed' | 'no answer' | 'not allowed' | 'unknown';

export interface RcCallEvent {
  phone: string;
  type: RcEventType;
  codes?: string[];
  userIds?: number[];
  hangupStatus?: RcHangupStatus;
  callExternalId?: string;
  externalPhone?: string;
  site?: string;
}

export interface RcCallEventResponse {
  success: boolean;
  notExistCodes?: string[];
  notExistUsers?: number[];
}

export interface RcCall {
  date: string;
  type: 'in' | 'out';
  phone: string;
  code?: string;
  userId?: number;
  result: RcCallResult;
  duration?: number;
  durationWaiting?: number;
  externalId: string;
  recordUrl?: string;
  externalPhone?: string;
  site?: string;
}

export interface RcCallsUploadResponse {
  success: boolean;
  processedCallsCount?: number;
  duplicateCalls?: string[];
}

export interface RcTask {
  text: string;
  commentary?: string;
  datetime?: string;
  performerId?: number;
  phone?: string;
  customer?: { id: number };
}

export interface RcOrder {
  externalId?: string;
  phone: string;
  call: boolean;
  orderMethod?: string;
  managerId?: number;
  customer?: { id: number };
  managerComment?: string;
}

export interface RcCreateResponse {
  success: boolean;
  id: number;
}

export interface RcOrdersResponse {
  success: boolean;
  orders?: { id: number; externalId?: string }[];
}

export interface RcUsersResponse {
  success: boolean;
  users?: (RcManager & { phone?: string; active?: boolean })[];
  pagination?: { currentPage?: number; totalPageCount?: number };
}

export interface RcTasksResponse {
  success: boolean;
  tasks?: { id: number; text?: string }[];
}

export interface RcIntegrationModule {
  code: string;
  integrationCode: string;
  active: boolean;
  name: string;
  logo: string;
  clientId: string;
  baseUrl: string;
  accountUrl: string;
  integrations: {
    telephony: {
      makeCallUrl: string;
      changeUserStatusUrl: string;
      allowEdit: boolean;
      inputEventSupported: boolean;
      outputEventSupported: boolean;
      hangupEventSupported: boolean;
      additionalCodes: { userId: number; code: string }[];
    };
  };
}

export interface RcModuleEditResponse {
  success: boolean;
  info?: { notExistUsersIds?: number[]; notExistSiteCodes?: string[] };
}

export interface RcCredentialsResponse {
  success: boolean;
  /** Older accounts list allowed methods in `credentials`, newer ones in `scopes`. */
  credentials?: string[];
  scopes?: string[];
  siteAccess?: string;
  sitesAvailable?: string[];
}

export interface RetailcrmClientOptions {
  /** Account address without /api, e.g. https://shop.retailcrm.ru. */
  url: string;
  /** Store code added as the `site` form field of the store-scoped methods. */
  site?: string;
  timeoutMs?: number;
}

/** Most methods live under /api/v5; /api/credentials is unversioned. */
export const API_PREFIX = '/api/v5';

type Form = Record<string, string | undefined>;

/**
 * The only place that speaks HTTP to RetailCRM. Request paths stay relative to the
 * API base ("/telephony/..."), which is what the hub's rate-limit buckets match on.
 * The hub puts the API key on every request (the definition's `auth`).
 */
export class RetailcrmClient {
  private readonly api: AxiosInstance;
  private readonly root: AxiosInstance;

  constructor(
    http: (options: HttpClientOptions) => AxiosInstance,
    private readonly options: RetailcrmClientOptions,
  ) {
    const base = options.url.replace(/\/+$/, '');
    const headers = { Accept: 'application/json' };
    this.api = http({ baseURL: `${base}${API_PREFIX}`, timeoutMs: options.timeoutMs, headers });
    this.root = http({ baseURL: `${base}/api`, timeoutMs: options.timeoutMs, headers });
  }

  /** The methods and stores the key may use; fails on a wrong key. */
  credentials(): Promise<RcCredentialsResponse> {
    return this.run('credentials', () => this.root.get('/credentials'));
  }

  telephonyManager(phone: string): Promise<RcManagerResponse> {
    return this.run('telephony/manager', () =>
      this.api.get('/telephony/manager', { params: { phone, details: 1, ignoreStatus: 1 } }),
    );
  }

  callEvent(event: RcCallEvent): Promise<RcCallEventResponse> {
    return this.post('/telephony/call/event', {
      event: JSON.stringify(event),
      site: this.options.site,
    });
  }

  callsUpload(calls: RcCall[]): Promise<RcCallsUploadResponse> {
    return this.post('/telephony/calls/upload', {
      calls: JSON.stringify(calls),
      site: this.options.site,
    });
  }

  createTask(task: RcTask): Promise<RcCreateResponse> {
    return this.post('/tasks/create', { task: JSON.stringify(task), site: this.options.site });
  }

  createOrder(order: RcOrder): Promise<RcCreateResponse> {
    return this.post('/orders/create', { order: JSON.stringify(order), site: this.options.site });
  }

  ordersByExternalId(externalId: string): Promise<RcOrdersResponse> {
    return this.run('orders', () =>
      this.api.get('/orders', { params: { 'filter[externalIds][]': externalId, limit: 20 } }),
    );
  }

  /** A page of the account's users (100 a page, the API's largest). */
  users(page: number): Promise<RcUsersResponse> {
    return this.run('users', () => this.api.get('/users', { params: { limit: 100, page } }));
  }

  tasksByText(text: string): Promise<RcTasksResponse> {
    return this.run('tasks', () =>
      this.api.get('/tasks', { params: { 'filter[text]': text, limit: 20 } }),
    );
  }

  editIntegrationModule(module: RcIntegrationModule): Promise<RcModuleEditResponse> {
    return this.post(`/integration-modules/${encodeURIComponent(module.code)}/edit`, {
      integrationModule: JSON.stringify(module),
    });
  }

  /** POSTs are urlencoded forms whose nested values are JSON strings. */
  private post<T extends { success: boolean }>(path: string, form: Form): Promise<T> {
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(form)) {
      if (value !== undefined) body.append(name, value);
    }
    return this.run(path.replace(/^\//, ''), () =>
      this.api.post(path, body.toString(), {
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      }),
    );
  }

  private async run<T extends { success: boolean }>(
    what: string,
    send: () => Promise<AxiosResponse>,
  ): Promise<T> {
    let response: AxiosResponse;
    try {
      response = await send();
    } catch (err) {
      throw toConnectorError(err, what);
    }
    const data = response.data as T;
    if (!data || typeof data !== 'object' || data.success !== true)
      throw unsuccessfulReply(what, data);
    return data;
  }
}
