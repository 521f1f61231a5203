import { Module } from '@nestjs/common';
import { PBX_ADAPTERS } from './index';
import { PbxCoreModule } from './pbx-core.module';

/** PBX sources and every adapter of src/pbx/index.ts. */
@Module({ imports: [PbxCoreModule, ...PBX_ADAPTERS] })
export class PbxModule {}
