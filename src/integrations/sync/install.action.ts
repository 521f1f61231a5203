import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { isConnectorError } from '../../connector-sdk';
import { Metrics } from '../../observability/metrics.service';
import { RetryLaterError } from '../../queue/queue.constants';
import { AgentsService } from '../agents.service';
import { Integration, needsAuth } from '../integration.entity';
import { IntegrationsService } from '../integrations.service';
import { ConnectorRuntime } from '../runtime/connector-runtime.service';
import { FailurePolicy } from './failure-policy';

/** Registers the hub in the CRM with the current agent map (on creation and on every change). */
@Injectable()
export class InstallAction {
  private readonly logger = new Logger('InstallAction');
  constructor(
    private readonly integrations: IntegrationsService,
    private readonly runtime: ConnectorRuntime,
    private readonly agents: AgentsService,
    private readonly policy: FailurePolicy,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
  ) {}

  async run(integrationId: string, attemptsMade: number): Promise<void> {
    const startedAt = this.clock.now();
    const integration = await this.integrations.byId(integrationId);
    if (!integration) {
      this.logger.log({ integrationId }, 'install of a deleted integration dropped');
      return;
    }
    // Nothing to send now: enabling or reconnecting schedules the install again.
    if (
      !integration.enabled ||
      !this.runtime.supports(integration, 'install') ||
      needsAuth(integration)
    ) {
      await this.integrations.installSettled(integration.id, startedAt);
      return;
    }
    // Retried like every CRM action, for as long (counted from the latest change), then shown.
    const dueAt = await this.integrations.installDueAt(integration.id);
    if (dueAt && this.policy.olderThanMaxAge(dueAt, startedAt.getTime())) {
      await this.integrations.setStatus(
        integration.id,
        'error',
        `install failed: gave up after ${this.policy.maxAgeS} s`,
      );
      this.countFailed(integration, 'max_age');
      await this.integrations.installSettled(integration.id, startedAt);
      return;
    }
    const live = this.runtime.forIntegration(integration);
    const map = await this.agents.mapFor(integration.id);
    const names = new Map(
      (await this.agents.list(integration.tenantId)).map((a) => [a.extension, a.name]),
    );
    try {
      await live.use('install').install({
        agents: [...map].map(([extension, crmUserId]) => ({
          extension,
          crmUserId,
          name: names.get(extension) ?? undefined,
        })),
      });
      await this.integrations.setStatus(integration.id, 'connected', null);
      await this.integrations.installSettled(integration.id, startedAt);
    } catch (err) {
      const decision = this.policy.decide(err, attemptsMade);
      if (decision.kind === 'reauth') {
        await this.integrations.setStatus(integration.id, 'needs_reauth', decision.reason);
        await this.integrations.installSettled(integration.id, startedAt);
        return;
      }
      const message = isConnectorError(err) ? err.message : (err as Error).message;
      await this.integrations.setStatus(integration.id, 'error', `install failed: ${message}`);
      if (decision.kind === 'retry' || decision.kind === 'wait')
        throw new RetryLaterError(decision.reason, decision.delayMs);
      this.countFailed(integration, decision.metric);
      await this.integrations.installSettled(integration.id, startedAt);
    }
  }

  private countFailed(
    integration: Pick<Integration, 'tenantId' | 'connector'>,
    reason: string,
  ): void {
    const labels = { connector: integration.connector, action: 'install' };
    this.metrics.syncDeadLettered.inc({ ...labels, reason });
    this.metrics.syncDeadLetteredByTenant.inc({ ...labels, tenant: integration.tenantId });
  }
}
