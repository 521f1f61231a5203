import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { IsCountry, IsTimeZone } from '../common/validators';
import type { StoredDialPolicy, Tenant } from './tenant.entity';

/**
 * Which numbers click-to-call may dial. A destination in `countries` is domestic; any other
 * (another country, or a non-geographic network) is international. Premium-rate numbers need
 * allowPremium wherever they are. Internal extensions are always allowed.
 */
export class DialPolicyDto {
  @ApiPropertyOptional({
    example: ['RU'],
    description: "Countries dialled as domestic (default: the tenant's defaultCountry)",
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(250)
  @IsCountry({ each: true, message: '$property must hold ISO 3166 country codes such as RU' })
  countries?: string[];

  @ApiPropertyOptional({ default: false, description: 'Numbers outside `countries`' })
  @IsOptional()
  @IsBoolean()
  allowInternational?: boolean;

  @ApiPropertyOptional({
    default: false,
    description: 'Premium-rate numbers (e.g. RU 8-809)',
  })
  @IsOptional()
  @IsBoolean()
  allowPremium?: boolean;
}

export interface DialPolicy {
  countries: string[];
  allowInternational: boolean;
  allowPremium: boolean;
}

/** Only the fields that were given, countries deduplicated. */
export function storedDialPolicy(dto: DialPolicyDto): StoredDialPolicy {
  const out: StoredDialPolicy = {};
  if (dto.countries !== undefined) out.countries = [...new Set(dto.countries)];
  if (dto.allowInternational !== undefined) out.allowInternational = dto.allowInternational;
  if (dto.allowPremium !== undefined) out.allowPremium = dto.allowPremium;
  return out;
}

/** The policy in force: what the tenant set, the rest from the defaults. */
export function effectiveDialPolicy(t: Pick<Tenant, 'defaultCountry' | 'dialPolicy'>): DialPolicy {
  const p = t.dialPolicy ?? {};
  return {
    countries: p.countries ?? [t.defaultCountry],
    allowInternational: p.allowInternational ?? false,
    allowPremium: p.allowPremium ?? false,
  };
}

/** Privacy mode: agents work with client codes, never the clients' numbers. */
export class PrivacyDto {
  @ApiPropertyOptional({
    default: false,
    description:
      'Every outside number gets a stable numeric code; what the PBX shows agents is the code',
  })
  @IsOptional()
  @IsBoolean()
  clientCodes?: boolean;
}

export interface Privacy {
  clientCodes: boolean;
}

export function effectivePrivacy(t: Pick<Tenant, 'privacy'>): Privacy {
  return { clientCodes: t.privacy?.clientCodes ?? false };
}

export class CreateTenantDto {
  @ApiProperty({ example: 'Romashka LLC' })
  @IsString()
  @Length(1, 200)
  name: string;

  @ApiPropertyOptional({
    example: 'RU',
    description: 'Country for numbers dialled without a country code',
  })
  @IsOptional()
  @IsCountry()
  defaultCountry?: string;

  @ApiPropertyOptional({ example: 'Europe/Moscow' })
  @IsOptional()
  @IsTimeZone()
  timezone?: string;

  @ApiPropertyOptional({
    example: 800,
    description: 'Routing answers within this many milliseconds',
  })
  @IsOptional()
  @IsInt()
  @Min(50)
  @Max(10000)
  routingBudgetMs?: number;

  @ApiPropertyOptional({
    example: 120,
    description:
      'How long a call log waits for an announced recording (CRMs that cannot attach later)',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(3600)
  recordingWaitS?: number;

  @ApiPropertyOptional({
    type: DialPolicyDto,
    nullable: true,
    description:
      'Click-to-call destinations; null restores the default (defaultCountry only, no premium-rate)',
  })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => DialPolicyDto)
  dialPolicy?: DialPolicyDto | null;

  @ApiPropertyOptional({ type: PrivacyDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => PrivacyDto)
  privacy?: PrivacyDto;
}

export class UpdateTenantDto extends PartialType(CreateTenantDto) {}

export interface TenantView {
  id: string;
  name: string;
  defaultCountry: string;
  timezone: string;
  routingBudgetMs: number;
  recordingWaitS: number;
  dialPolicy: DialPolicy;
  privacy: Privacy;
  createdAt: string;
}

export interface TenantWithSecrets extends TenantView {
  apiKey: string;
  webhookSecret: string;
}
