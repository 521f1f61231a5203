import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { Clock } from '../common/clock';
import { isAdminToken } from '../common/secret-box';
import { noteRejection, noteTenant, RejectReason } from '../observability/ingress-metrics';
import { checkHubSignature } from './hub-signature';
import { RequestLimiter } from './request-limiter.service';
import { checkTenantLimit } from './request-limits';
import { TenantKeysService } from './tenant-keys.service';
import { TenantsService } from './tenants.service';

/** api_key: the tenant's full apiKey; pbx_key: a key of scope "pbx" (tenant_keys). */
export type AuthKind = 'admin' | 'api_key' | 'pbx_key' | 'signature';

export type HubRequest = FastifyRequest & {
  rawBody?: Buffer;
  auth?: { kind: AuthKind; tenantId?: string; keyId?: string };
  params: Record<string, string>;
};

function header(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function bearerToken(req: FastifyRequest): string | undefined {
  const auth = header(req, 'authorization');
  if (!auth) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(auth);
  return m?.[1];
}

abstract class BaseGuard implements CanActivate {
  constructor(
    @Inject(APP_CONFIG) protected readonly config: AppConfig,
    protected readonly tenants: TenantsService,
    protected readonly keys: TenantKeysService,
    protected readonly clock: Clock,
    private readonly limiter: RequestLimiter,
  ) {}

  abstract canActivate(context: ExecutionContext): Promise<boolean>;

  /** Lets the request through within its tenant's request limit (429 beyond it). */
  protected async admit(context: ExecutionContext, req: HubRequest): Promise<true> {
    await checkTenantLimit(
      this.limiter,
      req.auth,
      context.switchToHttp().getResponse<FastifyReply>(),
    );
    return true;
  }

  protected isAdmin(req: FastifyRequest): boolean {
    const token = bearerToken(req);
    return token !== undefined && isAdminToken(token, this.config);
  }

  /**
   * Admin token, or the tenant's own API key; with `pbxKeys`, also a key of scope "pbx" of
   * that tenant. A wrong tenant and a wrong key look the same (401); only a pbx key of the
   * path's own tenant, used where it may not go, learns that it is valid (403).
   */
  protected async tenantAuth(req: HubRequest, pbxKeys = false): Promise<boolean> {
    const tenantId = req.params.tenantId;
    if (this.isAdmin(req)) {
      req.auth = { kind: 'admin', tenantId };
      return true;
    }
    const apiKey = header(req, 'x-api-key');
    if (apiKey !== undefined) {
      if (tenantId && this.keys.isScopedKey(apiKey)) {
        const key = await this.keys.verify(tenantId, apiKey);
        if (key && pbxKeys) {
          req.auth = { kind: 'pbx_key', tenantId, keyId: key.id };
          return true;
        }
        if (key) {
          throw new ForbiddenException(
            'this API key has scope "pbx": it may only send PBX events and ask for routes; ' +
              "managing the tenant needs the tenant's apiKey or the admin token",
          );
        }
      }
      if (tenantId && (await this.tenants.apiKeyMatches(tenantId, apiKey))) {
        req.auth = { kind: 'api_key', tenantId };
        return true;
      }
      throw new UnauthorizedException('invalid API key for this tenant');
    }
    return false;
  }
}

/** Operator-only routes. */
@Injectable()
export class AdminGuard extends BaseGuard {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<HubRequest>();
    if (this.isAdmin(req)) {
      req.auth = { kind: 'admin' };
      return true;
    }
    throw new UnauthorizedException(
      'admin token required (Authorization: Bearer <HUB_ADMIN_TOKEN>)',
    );
  }
}

/**
 * Operator-only routes on a tenant's path (deleting the tenant): the admin token only. The
 * tenant's own valid key learns that it may not (403); any other key or none gets 401.
 */
@Injectable()
export class TenantAdminGuard extends BaseGuard {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<HubRequest>();
    if (this.isAdmin(req)) {
      req.auth = { kind: 'admin', tenantId: req.params.tenantId };
      return true;
    }
    if (await this.tenantAuth(req, true)) {
      throw new ForbiddenException(
        'only the operator may do this: it needs the admin token (Authorization: Bearer <HUB_ADMIN_TOKEN>), not a tenant API key',
      );
    }
    throw new UnauthorizedException(
      'admin token required (Authorization: Bearer <HUB_ADMIN_TOKEN>)',
    );
  }
}

/** /v1/tenants/:tenantId/...: the admin token or that tenant's X-Api-Key (never a pbx key). */
@Injectable()
export class TenantGuard extends BaseGuard {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<HubRequest>();
    if (await this.tenantAuth(req)) return this.admit(context, req);
    throw new UnauthorizedException('authentication required: Authorization: Bearer or X-Api-Key');
  }
}

/**
 * /v1/pbx/:tenantId/...: as TenantGuard, or one of the tenant's pbx keys, or a body signed
 * with the tenant's webhook secret.
 */
@Injectable()
export class PbxGuard extends BaseGuard {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<HubRequest>();
    let keyed: boolean;
    try {
      keyed = await this.tenantAuth(req, true);
    } catch (err) {
      if (err instanceof UnauthorizedException) await this.refused(req, 'bad_token');
      throw err;
    }
    if (keyed) {
      // The admin token names any tenant id: the endpoint notes it once it found the tenant.
      if (req.auth?.kind !== 'admin') noteTenant(req, req.params.tenantId);
      return this.admit(context, req);
    }
    const timestamp = header(req, 'x-hub-timestamp');
    const signature = header(req, 'x-hub-signature');
    if (timestamp === undefined && signature === undefined) {
      await this.refused(req, bearerToken(req) === undefined ? 'unauthenticated' : 'bad_token');
      throw new UnauthorizedException(
        'authentication required: X-Hub-Timestamp + X-Hub-Signature, X-Api-Key or Authorization: Bearer',
      );
    }
    const secret = await this.tenants.webhookSecret(req.params.tenantId);
    const check = checkHubSignature(
      secret ?? '',
      timestamp,
      signature,
      req.rawBody ?? Buffer.alloc(0),
      this.clock.nowS(),
    );
    if (secret !== null && check === 'ok') {
      req.auth = { kind: 'signature', tenantId: req.params.tenantId };
      noteTenant(req, req.params.tenantId);
      return this.admit(context, req);
    }
    if (secret === null) noteRejection(req, 'unknown_tenant');
    else
      noteRejection(
        req,
        check === 'stale' ? 'stale_signature' : 'bad_signature',
        req.params.tenantId,
      );
    const reason =
      check === 'stale'
        ? 'X-Hub-Timestamp is more than 300 s away from the server time'
        : check === 'missing'
          ? 'X-Hub-Timestamp and X-Hub-Signature are both required'
          : check === 'malformed'
            ? 'X-Hub-Signature must be sha256=<hex> and X-Hub-Timestamp unix seconds'
            : 'X-Hub-Signature does not match the body';
    throw new UnauthorizedException(`invalid signature: ${reason}`);
  }

  /** Notes why the request is refused; a tenant that does not exist is the reason itself. */
  private async refused(req: HubRequest, reason: RejectReason): Promise<void> {
    const tenant = await this.tenants.find(req.params.tenantId).catch(() => undefined);
    if (tenant === null) noteRejection(req, 'unknown_tenant');
    else noteRejection(req, reason, tenant?.id);
  }
}
