import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  ValidateNested,
} from 'class-validator';
import { IsPlainObject } from '../common/validators';
import type { IntegrationStatus } from './integration.entity';

export class IntegrationSettingsDto {
  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  popOnRinging?: boolean;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  logCalls?: boolean;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  attachRecordings?: boolean;

  @ApiPropertyOptional({ enum: ['missed', 'unknown', 'none'], default: 'missed' })
  @IsOptional()
  @IsIn(['missed', 'unknown', 'none'])
  createLeadFor?: 'missed' | 'unknown' | 'none';

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  routeToResponsible?: boolean;
}

export class CreateIntegrationDto {
  @ApiProperty({ example: 'retailcrm' })
  @IsString()
  @Matches(/^[a-z][a-z0-9-]{1,40}$/, {
    message: '$property must be a connector id from GET /v1/connectors',
  })
  connector: string;

  @ApiProperty({ example: { url: 'https://demo.retailcrm.ru' } })
  @IsPlainObject()
  config: Record<string, unknown>;

  @ApiProperty({ example: { apiKey: '...' }, description: 'Stored encrypted, never returned' })
  @IsPlainObject()
  credentials: Record<string, unknown>;

  @ApiPropertyOptional({ type: IntegrationSettingsDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => IntegrationSettingsDto)
  settings?: IntegrationSettingsDto;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class UpdateIntegrationDto {
  @ApiPropertyOptional({ description: 'Fields to change; merged into the current config' })
  @IsOptional()
  @IsPlainObject()
  config?: Record<string, unknown>;

  @ApiPropertyOptional({
    description: 'Fields to change; merged into the current credentials and checked live',
  })
  @IsOptional()
  @IsPlainObject()
  credentials?: Record<string, unknown>;

  @ApiPropertyOptional({ type: IntegrationSettingsDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => IntegrationSettingsDto)
  settings?: IntegrationSettingsDto;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export interface IntegrationView {
  id: string;
  connector: string;
  enabled: boolean;
  config: Record<string, unknown>;
  settings: Record<string, unknown>;
  status: string;
  statusMessage: string | null;
  /** While the integration needs (re-)authorising: where an admin grants access. */
  authorizeUrl?: string;
  createdAt: string;
}

/** The answer to "test connection": whether the stored credentials pass the CRM's check now. */
export type IntegrationTestResult =
  | { ok: true; status: IntegrationStatus }
  | { ok: false; status: IntegrationStatus; message: string };
