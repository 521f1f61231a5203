import { IsOptional, IsString, IsUrl, Length } from 'class-validator';
import { Field } from '../../connector-sdk';
import { AllowedSenders } from '../sender-allowlist';
import { RecordsAllCalls } from '../source-config';

export class ZadarmaSourceConfig {
  @Field({
    description:
      "Zadarma's REST API, used for click-to-call, recordings and the call history; change it only for a test server or a proxy",
    example: 'https://api.zadarma.com',
  })
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  apiUrl?: string = 'https://api.zadarma.com';

  /**
   * Where notifications may come from (IPs or CIDRs, e.g. Zadarma's 185.45.152.0/24); a request
   * from elsewhere is refused with 403 even when signed. Unset or null: any address.
   */
  @AllowedSenders()
  allowedSenders?: string[] | null;

  /** The PBX records every call (privacy mode's resolve relies on it). */
  @RecordsAllCalls()
  recordsAllCalls?: boolean;
}

export class ZadarmaCredentials {
  @Field({
    description:
      'The API key ("Key") from the Zadarma cabinet: Settings → Integrations and API → Keys and API',
    secret: true,
  })
  @IsString()
  @Length(1, 200)
  key: string;

  @Field({
    description:
      'The API secret ("Secret") shown beside that key; the hub checks every notification\'s Signature with it',
    secret: true,
  })
  @IsString()
  @Length(1, 200)
  secret: string;
}
