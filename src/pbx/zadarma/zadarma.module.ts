import { Logger, Module, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { CallsModule } from '../../calls/calls.module';
import { RecordingFetchers } from '../../recordings/recording-fetchers';
import { RecordingsModule } from '../../recordings/recordings.module';
import { RoutingModule } from '../../routing/routing.module';
import { TenantsModule } from '../../tenants/tenants.module';
import { PbxAdapters } from '../pbx-adapters';
import { PbxCoreModule } from '../pbx-core.module';
import { registerZadarmaParsers } from './zadarma-multipart';
import { ZadarmaRecordings } from './zadarma-recordings';
import { accountOf, ZadarmaClient } from './zadarma.client';
import { statToEvents, zadarmaWallClock } from './zadarma-history';
import type { CallRecordingRef } from './zadarma.mapper';
import type { NormalizedEvent } from '../../calls/call-event';
import { ZadarmaController } from './zadarma.controller';
import { ZadarmaOriginator } from './zadarma.originator';
import { ZadarmaCredentials, ZadarmaSourceConfig } from './zadarma.schema';

/** Zadarma's cloud PBX: signed call notifications, call steering, REST click-to-call, recordings. */
@Module({
  imports: [PbxCoreModule, CallsModule, RoutingModule, RecordingsModule, TenantsModule],
  controllers: [ZadarmaController],
  providers: [ZadarmaClient, ZadarmaOriginator, ZadarmaRecordings],
})
export class ZadarmaModule implements OnModuleInit {
  private readonly logger = new Logger('ZadarmaModule');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly adapters: PbxAdapters,
    private readonly originator: ZadarmaOriginator,
    private readonly fetchers: RecordingFetchers,
    private readonly recordings: ZadarmaRecordings,
    private readonly client: ZadarmaClient,
  ) {}

  /** Runs after Nest registered its JSON/form parsers and before the server listens. */
  onModuleInit(): void {
    this.adapters.register({
      type: 'zadarma',
      displayName: 'Zadarma',
      configSchema: ZadarmaSourceConfig,
      credentialsSchema: ZadarmaCredentials,
      originator: this.originator,
      // Zadarma signs its notifications with the source's API secret.
      ingress: { path: 'zadarma', signing: 'pbx' },
      history: async (source, credentials, period) => {
        const account = accountOf(source, credentials);
        const start = zadarmaWallClock(period.from, period.timezone);
        const end = zadarmaWallClock(new Date(period.to.getTime() - 1000), period.timezone);
        const reference = (ref: CallRecordingRef) =>
          this.recordings.reference({ sourceId: source.id, account }, ref);
        const calls: NormalizedEvent[][] = [];
        for (const [type, direction] of [
          ['in', 'inbound'],
          ['out', 'outbound'],
        ] as const) {
          for (const stat of await this.client.statistics(account, start, end, type)) {
            calls.push(statToEvents(stat, direction, period, reference));
          }
        }
        return calls;
      },
    });
    this.fetchers.register(this.recordings);
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter || adapter.getType() !== 'fastify') {
      this.logger.warn('not on Fastify: multipart Zadarma notifications will be refused');
      return;
    }
    registerZadarmaParsers(adapter.getInstance<FastifyInstance>());
  }
}
