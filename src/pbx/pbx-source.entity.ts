import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

@Entity('pbx_sources')
export class PbxSource {
  @PrimaryColumn({ type: 'char', length: 36 })
  id: string;

  @Column({ name: 'tenant_id', type: 'char', length: 36 })
  tenantId: string;

  /** A registered PBX adapter's type. */
  @Column({ type: 'varchar', length: 16 })
  type: string;

  @Column({ type: 'json' })
  config: Record<string, unknown>;

  @Column({ name: 'credentials_enc', type: 'text', nullable: true })
  credentialsEnc: string | null;

  @Column({ type: 'varchar', length: 32 })
  status: string;

  @Column({ name: 'status_message', type: 'varchar', length: 500, nullable: true })
  statusMessage: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'datetime', precision: 3 })
  updatedAt: Date;
}
