import {
  Column,
  CreateDateColumn,
  DeleteDateColumn,
  Entity,
  PrimaryColumn,
  UpdateDateColumn,
} from 'typeorm';

/** tenants.dial_policy as stored: only the fields the tenant set. */
export interface StoredDialPolicy {
  countries?: string[];
  allowInternational?: boolean;
  allowPremium?: boolean;
}

/** tenants.privacy as stored. */
export interface StoredPrivacy {
  clientCodes?: boolean;
}

@Entity('tenants')
export class Tenant {
  @PrimaryColumn({ type: 'char', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 200 })
  name: string;

  @Column({ name: 'default_country', type: 'char', length: 2 })
  defaultCountry: string;

  @Column({ type: 'varchar', length: 64 })
  timezone: string;

  @Column({ name: 'routing_budget_ms', type: 'int' })
  routingBudgetMs: number;

  @Column({ name: 'recording_wait_s', type: 'int' })
  recordingWaitS: number;

  /** Click-to-call destinations as set; null: the defaults (see effectiveDialPolicy). */
  @Column({ name: 'dial_policy', type: 'json', nullable: true })
  dialPolicy: StoredDialPolicy | null;

  /** Privacy mode; null: off. */
  @Column({ type: 'json', nullable: true })
  privacy: StoredPrivacy | null;

  @Column({ name: 'api_key_hash', type: 'char', length: 64 })
  apiKeyHash: string;

  @Column({ name: 'webhook_secret_enc', type: 'text' })
  webhookSecretEnc: string;

  @CreateDateColumn({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'datetime', precision: 3 })
  updatedAt: Date;

  /**
   * Set when the tenant's deletion began: from then on the tenant is gone for every lookup
   * (TypeORM leaves such rows out), while its data is removed in batches.
   */
  @DeleteDateColumn({ name: 'deleted_at', type: 'datetime', precision: 3, nullable: true })
  deletedAt: Date | null;
}
