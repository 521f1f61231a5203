import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, Matches } from 'class-validator';

const WITH_ZONE = { message: '$property must carry a time zone (Z or +03:00)' };
export const GROUPS = ['agent', 'line', 'day', 'hour'] as const;
export type StatsGroup = (typeof GROUPS)[number];

export class StatsQueryDto {
  @ApiProperty({ example: '2026-12-01T00:00:00+03:00' })
  @IsISO8601({ strict: true })
  @Matches(/(Z|[+-]\d{2}:?\d{2})$/i, WITH_ZONE)
  from: string;

  @ApiProperty({ example: '2026-12-02T00:00:00+03:00' })
  @IsISO8601({ strict: true })
  @Matches(/(Z|[+-]\d{2}:?\d{2})$/i, WITH_ZONE)
  to: string;

  @ApiPropertyOptional({ enum: GROUPS, default: 'day' })
  @IsOptional()
  @IsIn(GROUPS)
  groupBy?: StatsGroup;
}

export interface StatsFigures {
  inbound: number;
  outbound: number;
  answered: number;
  missed: number;
  /** answered / inbound; null without inbound calls. */
  answerRate: number | null;
  avgWaitS: number | null;
  avgTalkS: number | null;
  talkS: number;
  calledBack: number;
}

export interface StatsRow extends StatsFigures {
  key: string;
  name?: string;
}

export interface StatsView {
  from: string;
  to: string;
  groupBy: StatsGroup;
  rows: StatsRow[];
  totals: StatsFigures;
}
