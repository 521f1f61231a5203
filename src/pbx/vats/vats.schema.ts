import { IsString, IsUrl, Length } from 'class-validator';
import { Field } from '../../connector-sdk';
import { AllowedSenders } from '../sender-allowlist';
import { RecordsAllCalls } from '../source-config';

export class VatsSourceConfig {
  /** The PBX's REST API, e.g. `https://<account>.megapbx.ru/crmapi/v1`. */
  @Field({
    description:
      "The PBX's REST API address, shown in the PBX cabinet under Integrations → CRM API (https://<account>.megapbx.ru/crmapi/v1 at MegaFon)",
    example: 'https://account.megapbx.ru/crmapi/v1',
  })
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
  @Field({
    description:
      'The CRM token generated in the PBX cabinet (Integrations → CRM API, at least 8 characters); the PBX sends it as crm_token with every post and the hub refuses posts without it',
    secret: true,
  })
  @IsString()
  @Length(8, 200)
  crmToken: string;

  /** The PBX's API key (X-API-KEY) for click-to-call, its users and its history. */
  @Field({
    description:
      "A key of the PBX's REST API (sent as X-API-KEY), created in the PBX cabinet; used for click-to-call, listing employees and importing the call history",
    secret: true,
  })
  @IsString()
  @Length(1, 200)
  apiKey: string;
}
