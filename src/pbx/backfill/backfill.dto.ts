import { ApiProperty } from '@nestjs/swagger';
import { IsISO8601, Matches } from 'class-validator';
import { IsEventTime } from '../../common/validators';

const WITH_ZONE = { message: '$property must carry a time zone (Z or +03:00)' };

export class BackfillDto {
  @ApiProperty({ example: '2026-12-01T00:00:00Z', description: 'start of the period (inclusive)' })
  @IsISO8601({ strict: true })
  @Matches(/(Z|[+-]\d{2}:?\d{2})$/i, WITH_ZONE)
  @IsEventTime()
  from: string;

  @ApiProperty({ example: '2026-12-02T00:00:00Z', description: 'end of the period (exclusive)' })
  @IsISO8601({ strict: true })
  @Matches(/(Z|[+-]\d{2}:?\d{2})$/i, WITH_ZONE)
  @IsEventTime()
  to: string;
}

export type BackfillStatus = 'queued' | 'running' | 'done' | 'failed';

export interface BackfillView {
  id: string;
  sourceId: string;
  from: string;
  to: string;
  status: BackfillStatus;
  calls: { seen: number; imported: number; known: number };
  error?: string;
}
