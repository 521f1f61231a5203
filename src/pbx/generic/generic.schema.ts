import { IsOptional, IsUrl } from 'class-validator';
import { RecordsAllCalls } from '../source-config';

/** A PBX that POSTs the hub's own event format; the hub POSTs click-to-call to `originateUrl`. */
export class GenericSourceConfig {
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  originateUrl?: string;

  /** The PBX records every call (privacy mode's resolve relies on it). */
  @RecordsAllCalls()
  recordsAllCalls?: boolean;
}
