import { Module } from '@nestjs/common';
import { BackfillModule } from './backfill/backfill.module';
import { PBX_ADAPTERS } from './index';
import { PrivacyModule } from './privacy/privacy.module';
import { PbxCoreModule } from './pbx-core.module';

/** PBX sources, every adapter of src/pbx/index.ts, and backfills of their call history. */
@Module({ imports: [PbxCoreModule, ...PBX_ADAPTERS, BackfillModule, PrivacyModule] })
export class PbxModule {}
