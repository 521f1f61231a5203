import { IsOptional, IsUrl } from 'class-validator';
import { Field } from '../../connector-sdk';
import { RecordsAllCalls } from '../source-config';

/** A PBX that POSTs the hub's own event format; the hub POSTs click-to-call to `originateUrl`. */
export class GenericSourceConfig {
  @Field({
    description:
      "Where the hub POSTs click-to-call requests ({requestId, extension, to}, signed with X-Hub-Signature and the tenant's webhook secret); leave it out if the PBX cannot place calls",
    example: 'https://pbx.example.com/originate',
  })
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  originateUrl?: string;

  /** The PBX records every call (privacy mode's resolve relies on it). */
  @RecordsAllCalls()
  recordsAllCalls?: boolean;
}
