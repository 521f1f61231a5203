import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Length,
  Matches,
  Max,
  Min,
  ValidateIf,
} from 'class-validator';
import { Field } from '../../src/connector-sdk';

/** An account's own host: one label under amoCRM's or Kommo's domains. */
export const ACCOUNT_HOST = /^[a-z0-9][a-z0-9-]{0,62}\.(amocrm\.ru|amocrm\.com|kommo\.com)$/i;

export const LEAD_KINDS = ['unsorted', 'lead'] as const;
export type AmocrmLeadKind = (typeof LEAD_KINDS)[number];

export class AmocrmConfig {
  @Field({
    description: 'The account host, e.g. example.amocrm.ru (also .amocrm.com, .kommo.com)',
    example: 'example.amocrm.ru',
  })
  @Matches(ACCOUNT_HOST, {
    message: 'baseDomain must be an account host such as example.amocrm.ru',
  })
  baseDomain: string;

  @Field({ description: 'Integration ID (the OAuth client_id) from the integration settings' })
  @IsString()
  @Length(1, 100)
  clientId: string;

  @Field({
    description:
      'Replaces https://<baseDomain> for every API and token request (a proxy or a sandbox)',
    example: 'https://amo-proxy.example.com',
  })
  @IsOptional()
  // require_tld is off so a sandbox on 127.0.0.1 is accepted; the outbound policy decides.
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  apiUrl?: string;

  @Field({
    description:
      'What a lead for a missed or unknown caller becomes: an incoming lead in "Unsorted" or a lead with its contact',
    enum: LEAD_KINDS,
    example: 'unsorted',
  })
  @IsOptional()
  @IsIn(LEAD_KINDS)
  createLeadAs?: AmocrmLeadKind = 'unsorted';

  @Field({ description: 'Pipeline for leads and incoming leads (the account default if unset)' })
  @IsOptional()
  @IsInt()
  @Min(1)
  pipelineId?: number;

  @Field({ description: 'Stage of that pipeline for new leads (createLeadAs "lead")' })
  @IsOptional()
  @IsInt()
  @Min(1)
  statusId?: number;

  @Field({ description: 'Source name amoCRM shows on calls and incoming leads' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  sourceName?: string = 'Telephony hub';

  @Field({ description: 'Per-request timeout in milliseconds (100..30000)', example: 10000 })
  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(30000)
  timeoutMs?: number = 10000;
}

export class AmocrmCredentials {
  @Field({
    description:
      'Secret key of the integration (OAuth); the integration then waits to be connected',
    secret: true,
  })
  @ValidateIf(
    (c: AmocrmCredentials) => c.longLivedToken === undefined || c.clientSecret !== undefined,
  )
  @IsString()
  @Length(1, 200)
  clientSecret?: string;

  @Field({
    description: 'Long-lived token of a private integration (instead of OAuth)',
    secret: true,
  })
  @ValidateIf(
    (c: AmocrmCredentials) => c.clientSecret === undefined || c.longLivedToken !== undefined,
  )
  @IsString()
  @Length(1, 4000)
  longLivedToken?: string;
}
