import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
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
} from 'class-validator';
import { IsPlainObject } from '../common/validators';
import { PBX_SOURCE_TYPES, PbxSourceType } from './pbx-source.entity';

const URL_OPTIONS = { protocols: ['http', 'https'], require_protocol: true, require_tld: false };

export class GenericSourceConfig {
  @IsOptional()
  @IsUrl(URL_OPTIONS)
  originateUrl?: string;
}

export class ZadarmaSourceConfig {
  @IsOptional()
  @IsUrl(URL_OPTIONS)
  apiUrl?: string = 'https://api.zadarma.com';
}

export class ZadarmaCredentials {
  @IsString()
  @Length(1, 200)
  key: string;

  @IsString()
  @Length(1, 200)
  secret: string;
}

export class AsteriskSourceConfig {
  @IsString()
  @Length(1, 255)
  host: string;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(65535)
  port?: number = 5038;

  @IsOptional()
  @IsString()
  @Length(1, 1000)
  recordingUrlTemplate?: string;

  /** Dialplan context click-to-call rings the agent through (`Local/<ext>@<context>`). */
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,80}$/)
  originateContext?: string;
}

export class AsteriskCredentials {
  @IsString()
  @Length(1, 200)
  username: string;

  @IsString()
  @Length(1, 200)
  secret: string;
}

export const SOURCE_SCHEMAS: Record<
  PbxSourceType,
  { config: new () => object; credentials?: new () => object }
> = {
  generic: { config: GenericSourceConfig },
  zadarma: { config: ZadarmaSourceConfig, credentials: ZadarmaCredentials },
  asterisk: { config: AsteriskSourceConfig, credentials: AsteriskCredentials },
};

export class CreatePbxSourceDto {
  @ApiProperty({ enum: PBX_SOURCE_TYPES })
  @IsIn(PBX_SOURCE_TYPES)
  type: PbxSourceType;

  @ApiProperty({ example: { originateUrl: 'https://pbx.example.com/originate' } })
  @IsPlainObject()
  config: Record<string, unknown>;

  @ApiPropertyOptional({
    description: 'zadarma: {key, secret}; asterisk: {username, secret}. Never returned.',
  })
  @IsOptional()
  @IsPlainObject()
  credentials?: Record<string, unknown>;
}

export class UpdatePbxSourceDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsPlainObject()
  config?: Record<string, unknown>;

  @ApiPropertyOptional()
  @IsOptional()
  @IsPlainObject()
  credentials?: Record<string, unknown>;
}

export interface PbxSourceView {
  id: string;
  type: PbxSourceType;
  config: Record<string, unknown>;
  status: string;
  statusMessage: string | null;
  createdAt: string;
}
