import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { RedisService } from '../common/redis.module';
import { JobQueue } from '../queue/job-queue.service';
import { Metrics } from './metrics.service';

@ApiExcludeController()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly indicator: HealthIndicatorService,
    private readonly redis: RedisService,
    private readonly queue: JobQueue,
    private readonly metrics: Metrics,
  ) {}

  @Get('health/live')
  live(): { status: string } {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @HealthCheck()
  ready() {
    return this.health.check([
      () => this.db.pingCheck('database', { timeout: 1500 }),
      async () => {
        const check = this.indicator.check('redis');
        try {
          await Promise.race([
            this.redis.client.ping(),
            new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 1500)),
          ]);
          return check.up();
        } catch (err) {
          return check.down({ message: (err as Error).message });
        }
      },
    ]);
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    try {
      const counts = await this.queue.counts();
      for (const [queue, states] of Object.entries(counts)) {
        for (const [state, n] of Object.entries(states))
          this.metrics.queueDepth.set({ queue, state }, n);
      }
    } catch {
      // Redis down: the depth gauge keeps its last value; readiness reports the outage.
    }
    return this.metrics.registry.metrics();
  }
}
