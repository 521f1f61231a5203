import { IsOptional, IsString, IsUrl, Length } from 'class-validator';
import { AllowedSenders } from '../sender-allowlist';
import { RecordsAllCalls } from '../source-config';

export class ZadarmaSourceConfig {
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
  @IsString()
  @Length(1, 200)
  key: string;

  @IsString()
  @Length(1, 200)
  secret: string;
}
