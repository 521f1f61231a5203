import { Init1764100000000 } from './1764100000000-init';
import { SyncClaims1764200000000 } from './1764200000000-sync-claims';
import { IngestBatch1764300000000 } from './1764300000000-ingest-batch';
import { IntegrationAuth1764400000000 } from './1764400000000-integration-auth';
import { SyncTrust1764500000000 } from './1764500000000-sync-trust';
import { TenantKeys1764600000000 } from './1764600000000-tenant-keys';
import { ClientNumber1764700000000 } from './1764700000000-client-number';
import { AgentMobile1764800000000 } from './1764800000000-agent-mobile';
import { Backfills1764900000000 } from './1764900000000-backfills';
import { Privacy1765000000000 } from './1765000000000-privacy';
import { TenantDeletion1765100000000 } from './1765100000000-tenant-deletion';
import { StatsRollups1765200000000 } from './1765200000000-stats-rollups';

/** Every migration, oldest first. Listed explicitly so ts-jest and the built app load the same set. */
export const MIGRATIONS = [
  Init1764100000000,
  SyncClaims1764200000000,
  IngestBatch1764300000000,
  IntegrationAuth1764400000000,
  SyncTrust1764500000000,
  TenantKeys1764600000000,
  ClientNumber1764700000000,
  AgentMobile1764800000000,
  Backfills1764900000000,
  Privacy1765000000000,
  TenantDeletion1765100000000,
  StatsRollups1765200000000,
];
