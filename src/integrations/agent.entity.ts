import {
  Column,
  Entity,
  JoinColumn,
  ManyToOne,
  OneToMany,
  PrimaryColumn,
  PrimaryGeneratedColumn,
} from 'typeorm';

@Entity('agents')
export class Agent {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ name: 'tenant_id', type: 'char', length: 36 })
  tenantId: string;

  @Column({ type: 'varchar', length: 32 })
  extension: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  name: string | null;

  @OneToMany(() => AgentCrmUser, (u) => u.agent, { cascade: true })
  crmUsers: AgentCrmUser[];
}

@Entity('agent_crm_users')
export class AgentCrmUser {
  @PrimaryColumn({ name: 'agent_id', type: 'bigint' })
  agentId: string;

  @PrimaryColumn({ name: 'integration_id', type: 'char', length: 36 })
  integrationId: string;

  @Column({ name: 'crm_user_id', type: 'varchar', length: 64 })
  crmUserId: string;

  @ManyToOne(() => Agent, (a) => a.crmUsers, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'agent_id' })
  agent: Agent;
}
