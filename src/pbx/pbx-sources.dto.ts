import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches } from 'class-validator';
import { IsPlainObject } from '../common/validators';

export class CreatePbxSourceDto {
  @ApiProperty({ example: 'generic', description: 'A PBX adapter: generic, zadarma, asterisk' })
  @IsString()
  @Matches(/^[a-z][a-z0-9-]{1,15}$/, { message: '$property must be a PBX source type' })
  type: string;

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
  type: string;
  config: Record<string, unknown>;
  status: string;
  statusMessage: string | null;
  createdAt: string;
}
