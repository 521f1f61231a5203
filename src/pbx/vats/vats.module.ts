import { Module, OnModuleInit } from '@nestjs/common';
import { CallsModule } from '../../calls/calls.module';
import { RoutingModule } from '../../routing/routing.module';
import { TenantsModule } from '../../tenants/tenants.module';
import { PbxAdapters } from '../pbx-adapters';
import { PbxCoreModule } from '../pbx-core.module';
import type { PbxSource } from '../pbx-source.entity';
import { PbxError } from '../pbx-adapter';
import type { NormalizedEvent } from '../../calls/call-event';
import { accountOf, VatsApiError, VatsClient } from './vats.client';
import { historyRecord, recordEvents } from './vats.mapper';
import { VatsController } from './vats.controller';
import { VatsOriginator } from './vats.originator';
import { VatsCredentials, VatsSourceConfig } from './vats.schema';

/** The "universal CRM API" of MegaFon-style virtual PBXs: posts in, REST click-to-call out. */
@Module({
  imports: [PbxCoreModule, CallsModule, RoutingModule, TenantsModule],
  controllers: [VatsController],
  providers: [VatsClient, VatsOriginator],
  exports: [VatsClient],
})
export class VatsModule implements OnModuleInit {
  constructor(
    private readonly adapters: PbxAdapters,
    private readonly originator: VatsOriginator,
    private readonly client: VatsClient,
  ) {}

  onModuleInit(): void {
    this.adapters.register({
      type: 'vats',
      displayName: 'Virtual PBX (universal CRM API)',
      configSchema: VatsSourceConfig,
      credentialsSchema: VatsCredentials,
      originator: this.originator,
      // Every post carries the source's crm_token.
      ingress: { path: 'vats', signing: 'pbx' },
      users: async (source: PbxSource, credentials) => {
        try {
          const users = await this.client.users(accountOf(source, credentials));
          return users.map((u) => ({
            login: u.login,
            name: u.name || null,
            extension: u.ext || null,
            mobile: u.mobile || null,
          }));
        } catch (err) {
          const e = err as VatsApiError;
          throw e instanceof VatsApiError && !e.retryable
            ? PbxError.refused(e.message)
            : PbxError.unreachable(e.message);
        }
      },
      history: async (source, credentials, period) => {
        const account = accountOf(source, credentials);
        // The history names employees by login; the live events by extension.
        const extOf = new Map(
          (await this.client.users(account)).map((u) => [u.login, u.ext || u.login]),
        );
        const ctx = { defaultCountry: period.defaultCountry, receivedAt: new Date() };
        const calls: NormalizedEvent[][] = [];
        for (const entry of await this.client.history(account, period.from, period.to)) {
          const record = historyRecord(entry, extOf);
          if (record) calls.push(recordEvents(record, ctx, true));
        }
        return calls;
      },
    });
  }
}
