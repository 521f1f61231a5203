import {
  CanActivate,
  ExecutionContext,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { Clock } from '../common/clock';
import { safeEqual } from '../common/secret-box';
import { checkHubSignature } from './hub-signature';
import { TenantsService } from './tenants.service';

export type AuthKind = 'admin' | 'api_key' | 'signature';

export type HubRequest = FastifyRequest & {
  rawBody?: Buffer;
  auth?: { kind: AuthKind; tenantId?: string };
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
    protected readonly clock: Clock,
  ) {}

  abstract canActivate(context: ExecutionContext): Promise<boolean>;

  protected isAdmin(req: FastifyRequest): boolean {
    const token = bearerToken(req);
    return token !== undefined && safeEqual(token, this.config.adminToken);
  }

  /** Admin token, or the tenant's own API key. A wrong tenant and a wrong key look the same. */
  protected async tenantAuth(req: HubRequest): Promise<boolean> {
    const tenantId = req.params.tenantId;
    if (this.isAdmin(req)) {
      req.auth = { kind: 'admin', tenantId };
      return true;
    }
    const apiKey = header(req, 'x-api-key');
    if (apiKey !== undefined) {
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

/** /v1/tenants/:tenantId/...: the admin token or that tenant's X-Api-Key. */
@Injectable()
export class TenantGuard extends BaseGuard {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<HubRequest>();
    if (await this.tenantAuth(req)) return true;
    throw new UnauthorizedException('authentication required: Authorization: Bearer or X-Api-Key');
  }
}

/** /v1/pbx/:tenantId/...: as TenantGuard, or a body signed with the tenant's webhook secret. */
@Injectable()
export class PbxGuard extends BaseGuard {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<HubRequest>();
    if (await this.tenantAuth(req)) return true;
    const timestamp = header(req, 'x-hub-timestamp');
    const signature = header(req, 'x-hub-signature');
    if (timestamp === undefined && signature === undefined) {
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
      return true;
    }
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
}
