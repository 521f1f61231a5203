import {
  BadRequestException,
  Injectable,
  Logger,
  NotFoundException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { instanceToPlain } from 'class-transformer';
import { randomUUID } from 'node:crypto';
import { Repository } from 'typeorm';
import { SwrCache } from '../common/swr-cache';
import { validateDto } from '../common/validation';
import { isConnectorError } from '../connector-sdk';
import { JobQueue } from '../queue/job-queue.service';
import { CRM_QUEUE } from '../queue/queue.constants';
import { ConnectorRegistry } from './connector-registry';
import { ConnectorRuntime } from './connector-runtime.service';
import { DEFAULT_SETTINGS, Integration, IntegrationSettings } from './integration.entity';
import { CreateIntegrationDto, IntegrationView, UpdateIntegrationDto } from './integrations.dto';

export const INSTALL_JOB = 'install';
export interface InstallJob {
  integrationId: string;
}

function plain(obj: object): Record<string, unknown> {
  return instanceToPlain(obj, { exposeUnsetFields: false }) as Record<string, unknown>;
}

@Injectable()
export class IntegrationsService {
  private readonly logger = new Logger('IntegrationsService');

  constructor(
    @InjectRepository(Integration) private readonly repo: Repository<Integration>,
    private readonly registry: ConnectorRegistry,
    private readonly runtime: ConnectorRuntime,
    private readonly queue: JobQueue,
  ) {}

  async create(tenantId: string, dto: CreateIntegrationDto): Promise<IntegrationView> {
    const definition = this.registry.get(dto.connector);
    if (!definition) {
      throw new BadRequestException(
        `connector must be one of: ${this.registry.ids().join(', ') || '(none installed)'}`,
      );
    }
    const config = plain(validateDto(definition.configSchema, dto.config, 'config'));
    const credentials = plain(
      validateDto(definition.credentialsSchema, dto.credentials, 'credentials'),
    );
    const integration = this.repo.create({
      id: randomUUID(),
      tenantId,
      connector: definition.id,
      enabled: dto.enabled ?? true,
      config,
      settings: {
        ...DEFAULT_SETTINGS,
        ...(dto.settings ? plain(dto.settings) : {}),
      } as IntegrationSettings,
      status: 'active',
      statusMessage: null,
      updatedAt: new Date(),
    });
    await this.verify(integration, credentials);
    integration.credentialsEnc = this.runtime.sealCredentials(integration.id, credentials);
    await this.repo.save(integration);
    this.enabledCache.delete(tenantId);
    await this.scheduleInstall(integration);
    return this.view(await this.repo.findOneByOrFail({ id: integration.id }));
  }

  private readonly enabledCache = new SwrCache<string, Integration[]>(
    (tenantId) =>
      this.repo.find({ where: { tenantId, enabled: true }, order: { createdAt: 'ASC' } }),
    { freshMs: 2000, staleMs: 8000 },
  );

  /** Enabled integrations of a tenant, cached briefly: routing and planning read them per call. */
  async enabled(tenantId: string): Promise<Integration[]> {
    return this.enabledCache.get(tenantId);
  }

  async byId(id: string): Promise<Integration | null> {
    return /^[0-9a-f-]{36}$/.test(id) ? this.repo.findOneBy({ id }) : null;
  }

  async list(tenantId: string): Promise<IntegrationView[]> {
    const rows = await this.repo.find({ where: { tenantId }, order: { createdAt: 'ASC' } });
    return rows.map((r) => this.view(r));
  }

  async get(tenantId: string, id: string): Promise<Integration> {
    const row = /^[0-9a-f-]{36}$/.test(id) ? await this.repo.findOneBy({ id, tenantId }) : null;
    if (!row) throw new NotFoundException(`integration ${id} not found`);
    return row;
  }

  async update(tenantId: string, id: string, dto: UpdateIntegrationDto): Promise<IntegrationView> {
    const integration = await this.get(tenantId, id);
    const definition = this.registry.get(integration.connector);
    if (!definition)
      throw new UnprocessableEntityException(`connector ${integration.connector} is not installed`);
    let credentialsChanged = false;
    if (dto.config) {
      integration.config = plain(
        validateDto(definition.configSchema, { ...integration.config, ...dto.config }, 'config'),
      );
    }
    let credentials = this.runtime.openCredentials(integration);
    if (dto.credentials) {
      credentials = plain(
        validateDto(
          definition.credentialsSchema,
          { ...credentials, ...dto.credentials },
          'credentials',
        ),
      );
      credentialsChanged = true;
    }
    if (dto.config || credentialsChanged) {
      await this.verify(integration, credentials);
      integration.credentialsEnc = this.runtime.sealCredentials(integration.id, credentials);
      integration.status = 'active';
      integration.statusMessage = null;
    }
    if (dto.settings)
      integration.settings = {
        ...integration.settings,
        ...plain(dto.settings),
      } as IntegrationSettings;
    if (dto.enabled !== undefined) integration.enabled = dto.enabled;
    await this.repo.save(integration);
    this.runtime.forget(integration.id);
    this.enabledCache.delete(tenantId);
    if (dto.config || credentialsChanged) await this.scheduleInstall(integration);
    return this.view(await this.repo.findOneByOrFail({ id }));
  }

  async remove(tenantId: string, id: string): Promise<void> {
    const integration = await this.get(tenantId, id);
    await this.repo.delete({ id: integration.id });
    this.runtime.forget(id);
    this.enabledCache.delete(tenantId);
  }

  /** Re-registers the hub in every CRM that keeps a copy of the agent map. */
  async agentsChanged(tenantId: string): Promise<void> {
    const rows = await this.repo.find({ where: { tenantId, enabled: true } });
    for (const row of rows) await this.scheduleInstall(row);
  }

  async setStatus(
    id: string,
    status: Integration['status'],
    message: string | null,
  ): Promise<void> {
    await this.repo.update({ id }, { status, statusMessage: message?.slice(0, 500) ?? null });
  }

  private async scheduleInstall(integration: Integration): Promise<void> {
    if (!integration.enabled || !this.registry.has(integration.connector, 'install')) return;
    await this.queue.add<InstallJob>(
      CRM_QUEUE,
      INSTALL_JOB,
      { integrationId: integration.id },
      { backoff: 'retry-after', attempts: 20, priority: 1 },
    );
  }

  /** Live credential check: a wrong key is a 422 that names the credential. */
  private async verify(
    integration: Integration,
    credentials: Record<string, unknown>,
  ): Promise<void> {
    const { connector } = this.runtime.build(integration, { ...credentials });
    try {
      await connector.verifyCredentials();
    } catch (err) {
      if (isConnectorError(err) && err.code === 'auth_invalid') {
        const field = err.details.field ?? Object.keys(credentials)[0] ?? 'credentials';
        throw new UnprocessableEntityException(
          `credentials.${field} was refused by the CRM: ${err.message}`,
        );
      }
      const message = (err as Error).message;
      this.logger.warn(
        { connector: integration.connector, err: message },
        'credential check failed',
      );
      throw new UnprocessableEntityException(
        `config could not be checked against the CRM: ${message}`,
      );
    }
  }

  view(i: Integration): IntegrationView {
    return {
      id: i.id,
      connector: i.connector,
      enabled: i.enabled,
      config: i.config,
      settings: i.settings as unknown as Record<string, unknown>,
      status: i.status,
      statusMessage: i.statusMessage,
      createdAt: new Date(i.createdAt).toISOString(),
    };
  }
}
