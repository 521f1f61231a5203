import { IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';

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
