import { IsString, IsUrl, Length } from 'class-validator';
import { AllowedSenders } from '../sender-allowlist';
import { RecordsAllCalls } from '../source-config';

export class VatsSourceConfig {
  /** The PBX's REST API, e.g. `https://<account>.megapbx.ru/crmapi/v1`. */
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  apiUrl: string;

  /** Where the PBX posts from (IPs or CIDRs); elsewhere is refused with 403. Unset: any. */
  @AllowedSenders()
  allowedSenders?: string[] | null;

  /** The PBX records every call (privacy mode's resolve relies on it). */
  @RecordsAllCalls()
  recordsAllCalls?: boolean;
}

export class VatsCredentials {
  /** The "CRM token" the PBX sends as crm_token with every post. */
  @IsString()
  @Length(8, 200)
  crmToken: string;

  /** The PBX's API key (X-API-KEY) for click-to-call, its users and its history. */
  @IsString()
  @Length(1, 200)
  apiKey: string;
}
