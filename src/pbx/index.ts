import { AsteriskModule } from './asterisk/asterisk.module';
import { GenericModule } from './generic/generic.module';
import { VatsModule } from './vats/vats.module';
import { ZadarmaModule } from './zadarma/zadarma.module';

/** The PBX adapters of this hub. A new PBX source adds its folder and one line here. */
export const PBX_ADAPTERS = [GenericModule, ZadarmaModule, AsteriskModule, VatsModule];
