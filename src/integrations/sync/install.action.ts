import { Injectable } from '@nestjs/common';
import { isConnectorError } from '../../connector-sdk';
import { RetryLaterError } from '../../queue/queue.constants';
import { AgentsService } from '../agents.service';
import { needsAuth } from '../integration.entity';
import { IntegrationsService } from '../integrations.service';
import { ConnectorRuntime } from '../runtime/connector-runtime.service';
import { FailurePolicy } from './failure-policy';

/** Registers the hub in the CRM with the current agent map (on creation and on every change). */
@Injectable()
export class InstallAction {
  constructor(
    private readonly integrations: IntegrationsService,
    private readonly runtime: ConnectorRuntime,
    private readonly agents: AgentsService,
    private readonly policy: FailurePolicy,
  ) {}

  async run(integrationId: string, attemptsMade: number): Promise<void> {
    const integration = await this.integrations.byId(integrationId);
    if (!integration || !integration.enabled || !this.runtime.supports(integration, 'install'))
      return;
    // Reconnecting schedules the install again; until then there is nothing to send.
    if (needsAuth(integration)) return;
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
    } catch (err) {
      const decision = this.policy.decide(err, attemptsMade);
      if (decision.kind === 'reauth') {
        await this.integrations.setStatus(integration.id, 'needs_reauth', decision.reason);
        return;
      }
      const message = isConnectorError(err) ? err.message : (err as Error).message;
      await this.integrations.setStatus(integration.id, 'error', `install failed: ${message}`);
      if (decision.kind === 'retry') throw new RetryLaterError(decision.reason, decision.delayMs);
    }
  }
}
