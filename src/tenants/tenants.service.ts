import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { LessThan, Repository } from 'typeorm';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { Clock } from '../common/clock';
import { randomToken, safeEqual, SecretBox, sha256Hex } from '../common/secret-box';
import {
  CreateTenantDto,
  effectiveDialPolicy,
  effectivePrivacy,
  storedDialPolicy,
  TenantView,
  TenantWithSecrets,
  UpdateTenantDto,
} from './tenant.dto';
import { Tenant } from './tenant.entity';
import { SwrCache } from '../common/swr-cache';

interface CachedTenant {
  tenant: Tenant;
  webhookSecret: string;
}

@Injectable()
export class TenantsService {
  private readonly box: SecretBox;
  /**
   * Tenants change rarely and are read on every PBX request. Changes made through this
   * instance apply at once; other instances see them within 5 s (10 s while refreshing).
   */
  private readonly cache: SwrCache<string, CachedTenant | null>;

  constructor(
    @InjectRepository(Tenant) private readonly repo: Repository<Tenant>,
    @Inject(APP_CONFIG) config: AppConfig,
    clock: Clock,
  ) {
    this.box = SecretBox.fromConfig(config);
    this.cache = new SwrCache((id) => this.load(id), {
      freshMs: 5000,
      staleMs: 5000,
      now: () => clock.nowMs(),
    });
  }

  async create(dto: CreateTenantDto): Promise<TenantWithSecrets> {
    const id = randomUUID();
    const apiKey = randomToken('hk_');
    const webhookSecret = randomToken('whsec_');
    const tenant = this.repo.create({
      id,
      name: dto.name,
      defaultCountry: dto.defaultCountry ?? 'RU',
      timezone: dto.timezone ?? 'Europe/Moscow',
      routingBudgetMs: dto.routingBudgetMs ?? 800,
      recordingWaitS: dto.recordingWaitS ?? 120,
      dialPolicy: dto.dialPolicy ? storedDialPolicy(dto.dialPolicy) : null,
      privacy: dto.privacy ? { ...dto.privacy } : null,
      apiKeyHash: sha256Hex(apiKey),
      webhookSecretEnc: this.box.seal(webhookSecret, `tenant:${id}:webhook`),
    });
    await this.repo.insert(tenant);
    const saved = await this.repo.findOneByOrFail({ id });
    return { ...this.view(saved), apiKey, webhookSecret };
  }

  async list(): Promise<TenantView[]> {
    const rows = await this.repo.find({ order: { createdAt: 'ASC' } });
    return rows.map((t) => this.view(t));
  }

  async get(id: string): Promise<Tenant> {
    const cached = await this.cached(id);
    if (!cached) throw new NotFoundException(`tenant ${id} not found`);
    return cached.tenant;
  }

  async update(id: string, dto: UpdateTenantDto): Promise<TenantView> {
    const tenant = await this.repo.findOneBy({ id });
    if (!tenant) throw new NotFoundException(`tenant ${id} not found`);
    const { dialPolicy, privacy, ...rest } = dto;
    Object.assign(tenant, rest);
    if (privacy !== undefined) tenant.privacy = { ...(tenant.privacy ?? {}), ...privacy };
    // The policy is replaced as a whole; null brings back the default.
    if (dialPolicy !== undefined)
      tenant.dialPolicy = dialPolicy ? storedDialPolicy(dialPolicy) : null;
    await this.repo.save(tenant);
    this.cache.delete(id);
    return this.view(tenant);
  }

  async rotateSecrets(id: string): Promise<TenantWithSecrets> {
    const tenant = await this.repo.findOneBy({ id });
    if (!tenant) throw new NotFoundException(`tenant ${id} not found`);
    const apiKey = randomToken('hk_');
    const webhookSecret = randomToken('whsec_');
    tenant.apiKeyHash = sha256Hex(apiKey);
    tenant.webhookSecretEnc = this.box.seal(webhookSecret, `tenant:${id}:webhook`);
    await this.repo.save(tenant);
    this.cache.delete(id);
    return { ...this.view(tenant), apiKey, webhookSecret };
  }

  /**
   * Begins the tenant's deletion: from now on it is gone for every lookup (keys, signatures,
   * the API), on this instance at once, on the others once their cache refreshes (≤ 10 s).
   * False when there is no such tenant; true too when its deletion had begun already.
   */
  async beginDeletion(id: string): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return false;
    const row = await this.repo.findOne({ where: { id }, withDeleted: true });
    if (!row) return false;
    if (!row.deletedAt) await this.repo.softDelete({ id });
    this.cache.delete(id);
    return true;
  }

  /** Tenants whose deletion began before `before` and has not finished (it was cut short). */
  async unfinishedDeletions(before: Date): Promise<string[]> {
    const rows = await this.repo.find({
      select: { id: true },
      where: { deletedAt: LessThan(before) },
      withDeleted: true,
    });
    return rows.map((r) => r.id);
  }

  /** The last step of a deletion: the tenant's row, and by cascade whatever still hangs off it. */
  async removeDeleted(id: string): Promise<void> {
    await this.repo
      .createQueryBuilder()
      .delete()
      .where('id = :id AND deleted_at IS NOT NULL', { id })
      .execute();
    this.cache.delete(id);
  }

  /** True only when the tenant exists and the key is its current key. */
  async apiKeyMatches(tenantId: string, apiKey: string): Promise<boolean> {
    const cached = await this.cached(tenantId);
    if (!cached) return false;
    return safeEqual(cached.tenant.apiKeyHash, sha256Hex(apiKey));
  }

  async webhookSecret(tenantId: string): Promise<string | null> {
    return (await this.cached(tenantId))?.webhookSecret ?? null;
  }

  /** The tenant or null, from the short-lived cache. */
  async find(tenantId: string): Promise<Tenant | null> {
    return (await this.cached(tenantId))?.tenant ?? null;
  }

  view(t: Tenant): TenantView {
    return {
      id: t.id,
      name: t.name,
      defaultCountry: t.defaultCountry,
      timezone: t.timezone,
      routingBudgetMs: t.routingBudgetMs,
      recordingWaitS: t.recordingWaitS,
      dialPolicy: effectiveDialPolicy(t),
      privacy: effectivePrivacy(t),
      createdAt: t.createdAt.toISOString(),
    };
  }

  private async cached(id: string): Promise<CachedTenant | null> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return null;
    return this.cache.get(id);
  }

  private async load(id: string): Promise<CachedTenant | null> {
    const tenant = await this.repo.findOneBy({ id });
    if (!tenant) return null;
    return {
      tenant,
      webhookSecret: this.box.open(tenant.webhookSecretEnc, `tenant:${id}:webhook`),
    };
  }
}
