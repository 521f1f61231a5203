import { Global, Module } from '@nestjs/common';
import { Clock } from './clock';
import { Lifecycle } from './lifecycle';
import { OutboundHttp } from './outbound-http';
import { HostResolver, OutboundPolicy } from './outbound-policy';
import { RedisService } from './redis.service';
import { TenantChannels } from './tenant-channels';

const PROVIDERS = [
  Clock,
  RedisService,
  Lifecycle,
  HostResolver,
  OutboundPolicy,
  OutboundHttp,
  TenantChannels,
];

/**
 * Infrastructure every room uses: the clock, the hub's Redis connection, its lifecycle, the outbound
 * policy every connection to a tenant-supplied address goes through, tenant pub/sub channels.
 */
@Global()
@Module({ providers: PROVIDERS, exports: PROVIDERS })
export class CommonModule {}
