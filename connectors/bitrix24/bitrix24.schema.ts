import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  IsUrl,
  Length,
  Matches,
  Max,
  Min,
} from 'class-validator';
import { Field } from '../../src/connector-sdk';

/** Bitrix24's public OAuth server: tokens are issued and refreshed there, not on the portal. */
export const PUBLIC_OAUTH_URL = 'https://oauth.bitrix.info';

/** A company number as the PBX reports it: digits, an optional leading "+". */
const LINE = /^\+?\d{3,20}$/;

export class Bitrix24Config {
  @Field({
    description: 'The portal address, e.g. https://example.bitrix24.ru (or an on-premises portal)',
    example: 'https://example.bitrix24.ru',
  })
  // require_tld is off so a sandbox on 127.0.0.1 is accepted; the outbound policy decides.
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  @Length(1, 300)
  portalUrl: string;

  @Field({
    description: 'The OAuth server that refreshes tokens (the public one unless on-premises)',
    example: PUBLIC_OAUTH_URL,
  })
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  @Length(1, 300)
  oauthUrl?: string = PUBLIC_OAUTH_URL;

  @Field({
    description:
      'Company numbers registered as external lines at install (digits, as the PBX reports them)',
    example: '74951234567',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @Matches(LINE, { each: true, message: 'each of lines must be a phone number (digits)' })
  lines?: string[];

  @Field({ description: 'Name Bitrix24 shows for those lines', example: 'Telephony hub' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  lineName?: string = 'Telephony hub';

  @Field({
    description:
      'Route a caller to the responsible manager only while their workday is open (Bitrix24 time tracking); otherwise routing answers no_agent with the reason',
  })
  @IsOptional()
  @IsBoolean()
  routeOnShiftOnly?: boolean = false;

  @Field({
    description:
      'Bitrix24 user who owns calls no mapped agent took (default: the user who installed the app)',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  defaultUserId?: number;

  @Field({ description: 'CRM source (STATUS_ID of crm.status.list SOURCE) for created leads' })
  @IsOptional()
  @IsString()
  @Length(1, 50)
  crmSource?: string;

  @Field({
    description: 'Requests a second the portal drains (2 on standard plans, 5 on Enterprise)',
    example: 2,
  })
  @IsOptional()
  @IsNumber()
  @Min(0.1)
  @Max(100)
  requestsPerSecond?: number = 2;

  @Field({
    description: 'Requests the portal takes at once (50 on standard plans, 250 on Enterprise)',
    example: 50,
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10000)
  burst?: number = 50;

  @Field({ description: 'Per-request timeout in milliseconds (100..30000)', example: 10000 })
  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(30000)
  timeoutMs?: number = 10000;
}

export class Bitrix24Credentials {
  @Field({ description: "The local application's client_id (Application ID), e.g. local.65f0…" })
  @IsString()
  @Length(1, 200)
  clientId: string;

  @Field({ description: "The application's client_secret (Application key)", secret: true })
  @IsString()
  @Length(1, 200)
  clientSecret: string;
}
