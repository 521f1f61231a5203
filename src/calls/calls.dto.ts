import { ApiPropertyOptional, OmitType } from '@nestjs/swagger';
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
import { CallDirection, CallResult, DIRECTIONS, RESULTS } from './call-event';

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

  @ApiPropertyOptional({ enum: DIRECTIONS })
  @IsOptional()
  @IsIn(DIRECTIONS)
  direction?: CallDirection;

  @ApiPropertyOptional({
    example: '101',
    description: 'Calls this agent had, answered or was rung by',
  })
  @IsOptional()
  @IsString()
  @Matches(/^\+?[A-Za-z0-9*#._@-]{1,32}$/, { message: '$property must be an extension' })
  extension?: string;

  @ApiPropertyOptional({
    example: '+74957654321',
    description: 'The company number dialled (inbound) or shown (outbound)',
  })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  line?: string;

  @ApiPropertyOptional({
    enum: ['pop', 'hangup', 'lead', 'log', 'recording'],
    description: 'With actionStatus: calls whose CRM action is in that state',
  })
  @IsOptional()
  @IsIn(['pop', 'hangup', 'lead', 'log', 'recording'])
  action?: string;

  @ApiPropertyOptional({
    enum: ['pending', 'done', 'failed', 'skipped'],
    description: 'Calls with a CRM action in this state (e.g. every call whose log failed)',
  })
  @IsOptional()
  @IsIn(['pending', 'done', 'failed', 'skipped'])
  actionStatus?: string;
}

/** The call list of a period as CSV: the list's filters, every page at once. */
export class ExportCallsQueryDto extends OmitType(ListCallsQueryDto, ['limit', 'cursor']) {}

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
