import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { ClientCodes } from '../contacts/client-codes.service';
import { ContactResolver } from '../contacts/contact-resolver.service';
import { toE164 } from '../contacts/phone';
import type { ContactMatch } from '../connector-sdk';
import { AgentsService } from '../integrations/agents.service';
import { ConnectorRuntime } from '../integrations/runtime/connector-runtime.service';
import type { Integration } from '../integrations/integration.entity';
import { IntegrationsService } from '../integrations/integrations.service';
import { Metrics } from '../observability/metrics.service';
import { TenantsService } from '../tenants/tenants.service';
import type { RouteDecision, RouteInput } from './routing.types';

/** What the PBX sets as the caller's name for an agent in privacy mode: the code, no number. */
export function callerNameOf(code: string): string {
  return `Client ${code}`;
}

/** Time kept back from the budget for the answer to travel (and for a busy event loop). */
const budgetMargin = (budgetMs: number): number => Math.min(50, Math.floor(budgetMs / 10));

type Lookup =
  | { integration: Integration; contact: ContactMatch | null }
  | { integration: Integration; error: Error };

/**
 * "Who should take this call?": the caller's responsible CRM user, mapped to an
 * extension, within the tenant's budget. A slow CRM never holds the call: the answer
 * falls back in time and the lookup finishes in the background to warm the cache.
 */
@Injectable()
export class RoutingService {
  private readonly logger = new Logger('RoutingService');

  constructor(
    private readonly tenants: TenantsService,
    private readonly integrations: IntegrationsService,
    private readonly runtime: ConnectorRuntime,
    private readonly resolver: ContactResolver,
    private readonly agents: AgentsService,
    private readonly metrics: Metrics,
    private readonly clock: Clock,
    private readonly codes: ClientCodes,
  ) {}

  /**
   * For a PBX that steers a live call by the answer to its webhook: decide answers within the
   * budget already; this guard only protects the call from a bug there. Any failure is null,
   * and the PBX runs its own scenario.
   */
  async decideForPbx(
    tenant: { id: string; routingBudgetMs: number },
    input: RouteInput,
  ): Promise<RouteDecision | null> {
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), Math.max(1, tenant.routingBudgetMs - 10));
    });
    try {
      return await Promise.race([
        this.decide(tenant.id, input).catch((err: Error) => {
          this.logger.error({ tenantId: tenant.id, err: err.message }, 'routing failed');
          return null;
        }),
        guard,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async decide(tenantId: string, input: RouteInput): Promise<RouteDecision> {
    const started = this.clock.nowMs();
    // The client's code is drawn beside the lookup, inside the same budget.
    const [found, code] = await Promise.all([
      this.decideInner(tenantId, input, started),
      this.clientCodeOf(tenantId, input.from),
    ]);
    const decision = code ? { ...found, display: code, callerName: callerNameOf(code) } : found;
    this.metrics.routeDecisions.observe(
      { reason: decision.reason },
      (this.clock.nowMs() - started) / 1000,
    );
    return decision;
  }

  /** Privacy mode: the caller's client code, which the PBX shows instead of the number. */
  private async clientCodeOf(tenantId: string, from: string): Promise<string | null> {
    const tenant = await this.tenants.find(tenantId);
    if (!tenant?.privacy?.clientCodes) return null;
    const phone = toE164(from, tenant.defaultCountry);
    if (!phone) return null;
    try {
      return await this.codes.codeFor(tenantId, phone);
    } catch (err) {
      this.logger.error({ tenantId, err: (err as Error).message }, 'no client code');
      return null;
    }
  }

  private async decideInner(
    tenantId: string,
    input: RouteInput,
    started: number,
  ): Promise<RouteDecision> {
    const tenant = await this.tenants.find(tenantId);
    if (!tenant) return { extension: null, reason: 'crm_error' };
    const phone = toE164(input.from, tenant.defaultCountry);
    if (!phone) return { extension: null, reason: 'unknown_caller' };
    const candidates = (await this.integrations.enabled(tenantId)).filter(
      (i) =>
        i.settings.routeToResponsible &&
        (this.runtime.supports(i, 'contactLookup') || this.runtime.supports(i, 'responsibleAgent')),
    );
    if (candidates.length === 0) return { extension: null, reason: 'unknown_caller' };

    const remaining = Math.max(
      1,
      tenant.routingBudgetMs -
        budgetMargin(tenant.routingBudgetMs) -
        (this.clock.nowMs() - started),
    );
    // A contact cached a while ago is asked again; it still answers if the CRM is slow.
    const staleAfterMs = Math.max(0, remaining - 20);
    const lookups: Promise<Lookup>[] = candidates.map((integration) => {
      const live = this.runtime.forIntegration(integration);
      return this.resolver
        .resolve(integration.id, phone, (p) => live.lookupContact(p), staleAfterMs)
        .then((contact): Lookup => ({ integration, contact }))
        .catch((error: Error): Lookup => ({ integration, error }));
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), remaining);
    });
    try {
      const results = await Promise.race([Promise.all(lookups), timeout]);
      if (results === 'timeout') return { extension: null, reason: 'crm_timeout' };
      return await this.pick(results);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** The first integration (in creation order) that knows the caller decides. */
  private async pick(results: Lookup[]): Promise<RouteDecision> {
    let sawError = false;
    let known: { integration: Integration; contact: ContactMatch } | null = null;
    for (const r of results) {
      if ('error' in r) {
        sawError = true;
        this.logger.warn(
          { integrationId: r.integration.id, err: r.error.message },
          'contact lookup failed',
        );
        continue;
      }
      if (r.contact) {
        known = { integration: r.integration, contact: r.contact };
        break;
      }
    }
    if (!known) return { extension: null, reason: sawError ? 'crm_error' : 'unknown_caller' };
    const { integration, contact } = known;
    const contactView = { id: contact.id, name: contact.name, integrationId: integration.id };
    const responsible = contact.responsible;
    if (!responsible) return { extension: null, reason: 'no_agent', contact: contactView };
    // The connector says so only where the tenant asked to route around managers off shift.
    if (responsible.onShift === false) {
      return {
        extension: null,
        reason: 'no_agent',
        contact: contactView,
        detail: `the responsible manager ${responsible.name ?? responsible.crmUserId} is off shift`,
      };
    }
    const mapped = await this.agents.extensionOf(integration.id, responsible.crmUserId);
    const extension = mapped ?? responsible.extension ?? null;
    if (!extension) return { extension: null, reason: 'no_agent', contact: contactView };
    return {
      extension,
      reason: 'responsible',
      agent: { extension, name: responsible.name ?? null },
      contact: contactView,
    };
  }
}
