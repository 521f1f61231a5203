import {
  BadRequestException,
  HttpException,
  Inject,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { instanceToPlain } from 'class-transformer';
import { randomUUID } from 'node:crypto';
import { Repository } from 'typeorm';
import { OutboundPolicy } from '../common/outbound-policy';
import { SecretBox } from '../common/secret-box';
import { validateDto } from '../common/validation';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { describeFields } from '../connector-sdk';
import { TenantsService } from '../tenants/tenants.service';
import { PbxError, PbxUser } from './pbx-adapter';
import { PbxAdapters } from './pbx-adapters';
import { PbxSource } from './pbx-source.entity';
import {
  CreatePbxSourceDto,
  PbxSourceTypeView,
  PbxSourceView,
  PbxWebhookView,
  UpdatePbxSourceDto,
} from './pbx-sources.dto';

const UUID = /^[0-9a-f-]{36}$/;

/** A tenant's PBX sources; config and credentials are validated by the source type's adapter. */
@Injectable()
export class PbxSourcesService {
  private readonly box: SecretBox;
  private readonly publicUrl: string;

  constructor(
    @InjectRepository(PbxSource) private readonly repo: Repository<PbxSource>,
    private readonly adapters: PbxAdapters,
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly outbound: OutboundPolicy,
    private readonly tenants: TenantsService,
  ) {
    this.box = SecretBox.fromConfig(config);
    this.publicUrl = config.publicUrl;
  }

  /** The source types this hub runs, in the order they registered, with the fields they take. */
  types(): PbxSourceTypeView[] {
    return this.adapters.all().map((a) => ({
      type: a.type,
      displayName: a.displayName,
      config: describeFields(a.configSchema),
      credentials: a.credentialsSchema ? describeFields(a.credentialsSchema) : [],
      ingress: { path: a.ingress?.path ?? null, signing: a.ingress?.signing ?? null },
      canOriginate: a.originator !== undefined,
    }));
  }

  /**
   * Where the source's PBX posts its webhooks, and for sources signed with X-Hub-Signature the
   * tenant's webhook secret to sign them with (the tenant's own key or the admin asked).
   */
  async webhook(tenantId: string, id: string): Promise<PbxWebhookView> {
    const source = await this.get(tenantId, id);
    const ingress = this.adapters.get(source.type)?.ingress;
    if (!ingress) return { url: null, signing: null };
    const url = `${this.publicUrl}/v1/pbx/${tenantId}/${ingress.path}`;
    if (ingress.signing !== 'hub-signature') return { url, signing: ingress.signing };
    const secret = await this.tenants.webhookSecret(tenantId);
    if (secret === null) throw new NotFoundException(`pbx source ${id} not found`);
    return { url, signing: ingress.signing, secret };
  }

  private validated(type: string, config: unknown, credentials: unknown) {
    const adapter = this.adapters.get(type);
    if (!adapter) {
      throw new BadRequestException(`type must be one of: ${this.adapters.types().join(', ')}`);
    }
    const cfg = instanceToPlain(validateDto(adapter.configSchema, config, 'config')) as Record<
      string,
      unknown
    >;
    if (!adapter.credentialsSchema) {
      if (credentials !== undefined)
        throw new BadRequestException(`credentials must not be given for a ${type} source`);
      return { config: cfg, credentials: null };
    }
    if (credentials === undefined)
      throw new BadRequestException(`credentials are required for a ${type} source`);
    const creds = instanceToPlain(
      validateDto(adapter.credentialsSchema, credentials, 'credentials'),
    ) as Record<string, unknown>;
    return { config: cfg, credentials: creds };
  }

  /** A source must not point the hub into its own network (422 naming the field). */
  private async checkDestinations(type: string, config: Record<string, unknown>): Promise<void> {
    const adapter = this.adapters.get(type);
    await this.outbound.assertConfig('config', config, adapter?.destinations?.(config) ?? []);
  }

  private context(id: string): string {
    return `pbx-source:${id}:credentials`;
  }

  async create(tenantId: string, dto: CreatePbxSourceDto): Promise<PbxSourceView> {
    const id = randomUUID();
    const { config, credentials } = this.validated(dto.type, dto.config, dto.credentials);
    await this.checkDestinations(dto.type, config);
    await this.repo.save({
      id,
      tenantId,
      type: dto.type,
      config,
      credentialsEnc: credentials ? this.box.sealJson(credentials, this.context(id)) : null,
      status: 'active',
      statusMessage: null,
    });
    return this.view(await this.repo.findOneByOrFail({ id }));
  }

  async list(tenantId: string): Promise<PbxSourceView[]> {
    return (await this.ofTenant(tenantId)).map((s) => this.view(s));
  }

  /** The tenant's sources, oldest first. */
  ofTenant(tenantId: string): Promise<PbxSource[]> {
    return this.repo.find({ where: { tenantId }, order: { createdAt: 'ASC' } });
  }

  async get(tenantId: string, id: string): Promise<PbxSource> {
    const row = UUID.test(id) ? await this.repo.findOneBy({ id, tenantId }) : null;
    if (!row) throw new NotFoundException(`pbx source ${id} not found`);
    return row;
  }

  async update(tenantId: string, id: string, dto: UpdatePbxSourceDto): Promise<PbxSourceView> {
    const source = await this.get(tenantId, id);
    const currentCreds = this.credentials(source);
    const nextCreds =
      dto.credentials !== undefined
        ? { ...(currentCreds ?? {}), ...dto.credentials }
        : (currentCreds ?? undefined);
    const { config, credentials } = this.validated(
      source.type,
      { ...source.config, ...(dto.config ?? {}) },
      nextCreds,
    );
    await this.checkDestinations(source.type, config);
    source.config = config;
    source.credentialsEnc = credentials ? this.box.sealJson(credentials, this.context(id)) : null;
    await this.repo.save(source);
    return this.view(source);
  }

  async remove(tenantId: string, id: string): Promise<void> {
    const source = await this.get(tenantId, id);
    await this.repo.delete({ id: source.id });
  }

  credentials<T = Record<string, unknown>>(source: PbxSource): T | null {
    return source.credentialsEnc
      ? this.box.openJson<T>(source.credentialsEnc, this.context(source.id))
      : null;
  }

  async setStatus(id: string, status: string, message: string | null): Promise<void> {
    await this.repo.update({ id }, { status, statusMessage: message?.slice(0, 500) ?? null });
  }

  /** A tenant's sources of one type, oldest first. */
  /** The PBX's employees (login, extension, mobile) for the agent map. */
  async users(tenantId: string, id: string): Promise<PbxUser[]> {
    const source = await this.get(tenantId, id);
    const adapter = this.adapters.get(source.type);
    if (!adapter?.users) {
      throw new HttpException(`a ${source.type} PBX source cannot list its users`, 422);
    }
    try {
      return await adapter.users(source, this.credentials(source));
    } catch (err) {
      const e = err instanceof PbxError ? err : PbxError.unreachable((err as Error).message);
      throw new HttpException(`the PBX did not list its users: ${e.message}`, e.httpStatus);
    }
  }

  byType(tenantId: string, type: string): Promise<PbxSource[]> {
    return this.repo.find({ where: { tenantId, type }, order: { createdAt: 'ASC' } });
  }

  /** Every tenant's sources of one type (for adapters that hold connections). */
  allOfType(type: string): Promise<PbxSource[]> {
    return this.repo.find({ where: { type } });
  }

  view(s: PbxSource): PbxSourceView {
    return {
      id: s.id,
      type: s.type,
      config: s.config,
      status: s.status,
      statusMessage: s.statusMessage,
      createdAt: new Date(s.createdAt).toISOString(),
    };
  }
}
