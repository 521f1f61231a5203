import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  Min,
  ValidateIf,
} from 'class-validator';
import { RESULTS, CallResult } from './call-event';

export class ListCallsQueryDto {
  @ApiPropertyOptional({ default: 50, maximum: 200 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,200}$/, { message: '$property is not a cursor returned by this API' })
  cursor?: string;

  @ApiPropertyOptional({ description: 'Calls started at or after (ISO 8601)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  @ApiPropertyOptional({ description: 'Calls started before (ISO 8601)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  until?: string;

  @ApiPropertyOptional({ enum: RESULTS })
  @IsOptional()
  @IsIn(RESULTS)
  result?: CallResult;
}

export class OriginateDto {
  @IsString()
  @Matches(/^[A-Za-z0-9*#._@-]{1,32}$/, { message: '$property must be an extension' })
  extension: string;

  /** The number (or extension) to call; or, in privacy mode, `code`. */
  @ValidateIf((o: OriginateDto) => o.code === undefined || o.to !== undefined)
  @IsString()
  @Length(1, 64)
  to?: string;

  @ValidateIf((o: OriginateDto) => o.code !== undefined)
  @IsString()
  @Matches(/^\d{6,12}$/, { message: '$property must be a client code (6-12 digits)' })
  code?: string;
}
