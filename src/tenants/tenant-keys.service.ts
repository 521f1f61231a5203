import { ConflictException, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Clock } from '../common/clock';
import { randomToken, sha256Hex } from '../common/secret-box';
import { SwrCache } from '../common/swr-cache';
import {
  CreateTenantKeyDto,
  KeyScope,
  TenantKeyView,
  TenantKeyWithSecret,
} from './tenant-keys.dto';
import { TenantKeysRepository } from './tenant-keys.repository';
import { TenantsService } from './tenants.service';

/**
 * A pbx key starts with this; a tenant's full apiKey starts with "hk_", so the two never look
 * alike. The prefix tells which kind a key is and nothing else: the rest is 32 random bytes.
 */
export const PBX_KEY_PREFIX = 'hkpbx_';
export const MAX_KEYS_PER_TENANT = 50;
/**
 * Ingest checks a key on every request, so a tenant's key hashes are cached. A revocation
 * applies at once on the instance that made it and within FRESH + STALE ms on the others.
 */
const FRESH_MS = 2000;
const STALE_MS = 3000;
/** A key created on another instance a moment ago: look again, at most this often per tenant. */
const MISS_RELOAD_MS = 1000;
/** lastUsedAt is written at most this often per key and instance. */
const TOUCH_EVERY_MS = 60_000;
const UUID = /^[0-9a-f-]{36}$/;

export interface VerifiedKey {
  id: string;
  scope: KeyScope;
}

@Injectable()
export class TenantKeysService {
  private readonly logger = new Logger('TenantKeysService');
  /** tenantId → key hash → key. */
  private readonly cache: SwrCache<string, Map<string, VerifiedKey>>;
  private readonly reloadedAt = new Map<string, number>();
  private readonly touchedAt = new Map<string, number>();

  constructor(
    private readonly repo: TenantKeysRepository,
    private readonly tenants: TenantsService,
    private readonly clock: Clock,
  ) {
    this.cache = new SwrCache((tenantId) => this.load(tenantId), {
      freshMs: FRESH_MS,
      staleMs: STALE_MS,
      now: () => clock.nowMs(),
    });
  }

  async create(tenantId: string, dto: CreateTenantKeyDto): Promise<TenantKeyWithSecret> {
    await this.tenants.get(tenantId);
    if ((await this.repo.count(tenantId)) >= MAX_KEYS_PER_TENANT) {
      throw new ConflictException(
        `a tenant has at most ${MAX_KEYS_PER_TENANT} keys: revoke one before creating another`,
      );
    }
    const key = randomToken(PBX_KEY_PREFIX);
    const id = randomUUID();
    const createdAt = new Date(Math.floor(this.clock.nowMs()));
    await this.repo.insert({
      id,
      tenantId,
      name: dto.name,
      scope: dto.scope,
      keyHash: sha256Hex(key),
      createdAt,
    });
    this.cache.delete(tenantId);
    this.logger.log({ tenantId, keyId: id, scope: dto.scope }, 'tenant key created');
    return { id, name: dto.name, scope: dto.scope, key, createdAt: createdAt.toISOString() };
  }

  async list(tenantId: string): Promise<TenantKeyView[]> {
    await this.tenants.get(tenantId);
    return (await this.repo.ofTenant(tenantId)).map((k) => ({
      id: k.id,
      name: k.name,
      scope: k.scope as KeyScope,
      createdAt: k.createdAt.toISOString(),
      lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
    }));
  }

  /** Another tenant's key id and an unknown one get the same 404. */
  async revoke(tenantId: string, id: string): Promise<void> {
    await this.tenants.get(tenantId);
    if (!UUID.test(id) || !(await this.repo.delete(tenantId, id))) {
      throw new NotFoundException(`key ${id} not found`);
    }
    this.cache.delete(tenantId);
    this.logger.log({ tenantId, keyId: id }, 'tenant key revoked');
  }

  /** True when the value has the shape of a scoped key (cheap; says nothing about validity). */
  isScopedKey(value: string): boolean {
    return value.startsWith(PBX_KEY_PREFIX);
  }

  /** The tenant's scoped key with this value, or null (unknown tenant, wrong or revoked key). */
  async verify(tenantId: string, value: string): Promise<VerifiedKey | null> {
    if (!UUID.test(tenantId) || !this.isScopedKey(value)) return null;
    if (!(await this.tenants.find(tenantId))) return null;
    const hash = sha256Hex(value);
    let found = (await this.cache.get(tenantId)).get(hash);
    if (!found) {
      const now = this.clock.nowMs();
      if (now - (this.reloadedAt.get(tenantId) ?? 0) >= MISS_RELOAD_MS) {
        if (this.reloadedAt.size >= 10000) this.reloadedAt.clear();
        this.reloadedAt.set(tenantId, now);
        this.cache.delete(tenantId);
        found = (await this.cache.get(tenantId)).get(hash);
      }
    }
    if (found) this.touch(found.id);
    return found ?? null;
  }

  private touch(id: string): void {
    const now = this.clock.nowMs();
    if (now - (this.touchedAt.get(id) ?? -Infinity) < TOUCH_EVERY_MS) return;
    if (this.touchedAt.size >= 10000) this.touchedAt.clear();
    this.touchedAt.set(id, now);
    this.repo.touch(id, new Date(now)).catch((err: Error) => {
      this.logger.warn({ keyId: id, err: err.message }, 'could not record when a key was used');
    });
  }

  private async load(tenantId: string): Promise<Map<string, VerifiedKey>> {
    const keys = await this.repo.ofTenant(tenantId);
    return new Map(keys.map((k) => [k.keyHash, { id: k.id, scope: k.scope as KeyScope }]));
  }
}
