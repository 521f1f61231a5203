import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import { IsCountry, IsTimeZone } from '../common/validators';

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
}

export class UpdateTenantDto extends PartialType(CreateTenantDto) {}

export interface TenantView {
  id: string;
  name: string;
  defaultCountry: string;
  timezone: string;
  routingBudgetMs: number;
  recordingWaitS: number;
  createdAt: string;
}

export interface TenantWithSecrets extends TenantView {
  apiKey: string;
  webhookSecret: string;
}
