/// <reference types="jest" />
import type { TokenSet } from '../auth';
import {
  BaseConnector,
  CAPABILITIES,
  CAPABILITY_METHODS,
  CapabilityMethods,
} from '../capabilities';
import type { AnyConnectorDefinition } from '../definition';
import { ConnectorError, isConnectorError } from '../errors';
import type { ContactMatch, ResponsibleUser } from '../types';
import { createTestContext, TestContext } from './test-context';

/** A request as a sandbox recorded it. Sandboxes may record more fields (form, body). */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, unknown>;
  headers: Record<string, string | undefined>;
  form?: Record<string, unknown>;
  body?: unknown;
  at?: number;
}

/** What a connector's sandbox provides to the shared suite. Made fresh for every test. */
export interface ConformanceFixture {
  /** Plain config pointing at the running sandbox. */
  config: object;
  credentials: object;
  /** Well-formed credentials the sandbox refuses. */
  badCredentials: object;
  /** E.164 number of a seeded contact that has a responsible user. */
  knownPhone: string;
  knownContactId: string;
  knownResponsibleCrmUserId: string;
  /** E.164 number no contact has. */
  unknownPhone: string;
  /** The client timeout the suite enforces (and hangs past); default 1000 ms. */
  timeoutMs?: number;
  publicUrl?: string;
  /** The next request to the sandbox is answered with this status (and Retry-After, in s). */
  failNext(status: number, retryAfterS?: number): void;
  /** The next request to the sandbox is held this long before it is answered. */
  hangNext(ms: number): void;
  /** An OAuth connector's tokens, as the hub keeps them once the integration is connected. */
  tokens?: TokenSet;
  /** Every request the sandbox received so far, oldest first. */
  requests(): RecordedRequest[];
  /**
   * The exact requests a lookup of `phone` (a known phone) must make, in order. Each listed
   * key must equal the recorded one; for `headers` only the listed header names are compared.
   */
  expectedLookupRequests?(phone: string): Partial<RecordedRequest>[];
  close(): Promise<void>;
}

/** Resolves to the error a promise rejects with, failing the test if it resolves. */
export async function expectConnectorError(
  promise: Promise<unknown>,
  code: ConnectorError['code'],
): Promise<ConnectorError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  if (!isConnectorError(caught)) {
    throw new Error(
      `expected ConnectorError "${code}", got ${String(caught ?? 'a resolved promise')}`,
    );
  }
  if (caught.code !== code) {
    throw new Error(`expected ConnectorError "${code}", got "${caught.code}": ${caught.message}`);
  }
  expect(caught.code).toBe(code);
  return caught;
}

/** The recorded request reduced to the keys (and header names) the expectation lists. */
export function pickExpected(
  actual: RecordedRequest,
  expected: Partial<RecordedRequest>,
): Partial<RecordedRequest> {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(expected) as (keyof RecordedRequest)[]) {
    if (key === 'headers') {
      const names = Object.keys(expected.headers ?? {});
      picked.headers = Object.fromEntries(
        names.map((name) => [name, actual.headers[name.toLowerCase()]]),
      );
    } else {
      picked[key] = actual[key];
    }
  }
  return picked as Partial<RecordedRequest>;
}

/**
 * The shared suite every connector runs against its sandbox with one line:
 * `describeConformance(myConnector, () => myConformanceFixture())`.
 */
export function describeConformance(
  definition: AnyConnectorDefinition,
  setup: () => Promise<ConformanceFixture>,
): void {
  const declared = new Set<string>(definition.capabilities);
  const lookups =
    definition.capabilities.includes('contactLookup') ||
    definition.capabilities.includes('responsibleAgent');

  describe(`${definition.id} connector conformance`, () => {
    let fixture: ConformanceFixture;
    const contexts: TestContext<object, object>[] = [];

    beforeEach(async () => {
      fixture = await setup();
    });

    afterEach(async () => {
      for (const context of contexts.splice(0)) context.dispose();
      await fixture.close();
    });

    function connect(credentials: object = fixture.credentials): BaseConnector {
      const context = createTestContext({
        definition,
        config: fixture.config,
        credentials,
        publicUrl: fixture.publicUrl,
        maxTimeoutMs: fixture.timeoutMs ?? 1000,
        tokens: fixture.tokens,
      });
      contexts.push(context);
      return definition.create(context.ctx);
    }

    /** The connector's methods of a declared capability (the suite checks they exist). */
    function as<K extends keyof CapabilityMethods>(
      connector: BaseConnector,
      _capability: K,
    ): CapabilityMethods[K] {
      return connector as unknown as CapabilityMethods[K];
    }

    /** A cheap call every connector makes: a lookup when it has one, else the credential check. */
    function probe(connector: BaseConnector, phone: string): Promise<unknown> {
      if (declared.has('contactLookup'))
        return as(connector, 'contactLookup').findContact({ phone });
      if (declared.has('responsibleAgent'))
        return as(connector, 'responsibleAgent').findResponsible({ phone });
      return connector.verifyCredentials();
    }

    it('declares a well-formed definition', () => {
      expect(definition.id).toMatch(/^[a-z][a-z0-9-]{1,40}$/);
      expect(definition.displayName).toEqual(expect.any(String));
      expect(definition.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(definition.capabilities.filter((c) => !CAPABILITIES.includes(c))).toEqual([]);
      expect(new Set(definition.capabilities).size).toBe(definition.capabilities.length);
      expect(definition.rateLimits.length).toBeGreaterThan(0);
      for (const bucket of definition.rateLimits)
        expect(bucket.requestsPerSecond).toBeGreaterThan(0);
      expect(definition.rateLimits.filter((b) => b.pathPrefix === undefined)).toHaveLength(1);
      expect(['none', 'apiKey', 'oauth2']).toContain(definition.auth?.type);
      if (definition.limits?.logBatch !== undefined) {
        expect(Number.isInteger(definition.limits.logBatch)).toBe(true);
        expect(definition.limits.logBatch).toBeGreaterThan(0);
      }
    });

    it('implements exactly the methods of its declared capabilities', () => {
      const connector = connect() as unknown as Record<string, unknown>;
      const problems: string[] = [];
      if (typeof connector.verifyCredentials !== 'function')
        problems.push('verifyCredentials is required');
      for (const capability of CAPABILITIES) {
        for (const method of CAPABILITY_METHODS[capability] as readonly string[]) {
          const present = typeof connector[method] === 'function';
          if (declared.has(capability) && !present)
            problems.push(`declares ${capability} but has no ${method}()`);
          if (!declared.has(capability) && connector[method] !== undefined) {
            problems.push(`has ${method}() but does not declare ${capability}`);
          }
        }
      }
      expect(problems).toEqual([]);
    });

    it('accepts valid credentials', async () => {
      await expect(connect().verifyCredentials()).resolves.toBeUndefined();
    });

    it('rejects invalid credentials with auth_invalid', async () => {
      await expectConnectorError(
        connect(fixture.badCredentials).verifyCredentials(),
        'auth_invalid',
      );
    });

    if (declared.has('contactLookup')) {
      it('finds no contact for an unknown phone', async () => {
        await expect(
          as(connect(), 'contactLookup').findContact({ phone: fixture.unknownPhone }),
        ).resolves.toBeNull();
      });

      it('finds the contact of a known phone with its responsible user', async () => {
        const contact: ContactMatch | null = await as(connect(), 'contactLookup').findContact({
          phone: fixture.knownPhone,
        });
        expect(contact).toEqual(
          expect.objectContaining({
            id: fixture.knownContactId,
            responsible: expect.objectContaining({ crmUserId: fixture.knownResponsibleCrmUserId }),
          }),
        );
      });
    }

    if (declared.has('responsibleAgent')) {
      it('finds no responsible user for an unknown phone', async () => {
        await expect(
          as(connect(), 'responsibleAgent').findResponsible({ phone: fixture.unknownPhone }),
        ).resolves.toBeNull();
      });

      it('finds the responsible user of a known phone', async () => {
        const user: ResponsibleUser | null = await as(
          connect(),
          'responsibleAgent',
        ).findResponsible({ phone: fixture.knownPhone });
        expect(user).toEqual(
          expect.objectContaining({ crmUserId: fixture.knownResponsibleCrmUserId }),
        );
      });
    }

    it('turns a 429 into rate_limited with the Retry-After delay', async () => {
      fixture.failNext(429, 7);
      const err = await expectConnectorError(probe(connect(), fixture.knownPhone), 'rate_limited');
      expect(err.retryAfterMs).toBe(7000);
    });

    it('turns a 503 into rate_limited with the Retry-After delay', async () => {
      fixture.failNext(503, 2);
      const err = await expectConnectorError(probe(connect(), fixture.knownPhone), 'rate_limited');
      expect(err.retryAfterMs).toBe(2000);
    });

    it('waits at least a second when a throttled reply has no Retry-After', async () => {
      fixture.failNext(429);
      const err = await expectConnectorError(probe(connect(), fixture.knownPhone), 'rate_limited');
      expect(err.retryAfterMs).toBeGreaterThanOrEqual(1000);
    });

    it('turns a 500 into temporary', async () => {
      fixture.failNext(500);
      await expectConnectorError(probe(connect(), fixture.knownPhone), 'temporary');
    });

    it('turns a request that outlives its timeout into temporary', async () => {
      const timeoutMs = fixture.timeoutMs ?? 1000;
      fixture.hangNext(timeoutMs + 1000);
      const started = Date.now();
      await expectConnectorError(probe(connect(), fixture.knownPhone), 'temporary');
      expect(Date.now() - started).toBeLessThan(timeoutMs + 900);
    });

    if (lookups) {
      it('sends exactly the expected lookup request', async () => {
        const expected = fixture.expectedLookupRequests?.(fixture.knownPhone);
        if (!expected)
          throw new Error('the fixture must provide expectedLookupRequests for a lookup connector');
        const before = fixture.requests().length;
        await probe(connect(), fixture.knownPhone);
        const made = fixture.requests().slice(before);
        expect(made.map((request, i) => pickExpected(request, expected[i] ?? {}))).toEqual(
          expected,
        );
      });
    }
  });
}
