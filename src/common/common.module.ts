import { Global, Module } from '@nestjs/common';
import { Clock } from './clock';
import { RedisService } from './redis.service';

/** Infrastructure every room uses: the clock and the hub's Redis connection. */
@Global()
@Module({ providers: [Clock, RedisService], exports: [Clock, RedisService] })
export class CommonModule {}
