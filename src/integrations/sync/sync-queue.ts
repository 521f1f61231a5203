import { Injectable } from '@nestjs/common';
import { JobQueue } from '../../queue/job-queue.service';
import { CRM_QUEUE } from '../../queue/queue.constants';
import { INSTALL_JOB, InstallJob, SyncAction, SyncJob } from './crm-jobs';
import { FailurePolicy } from './failure-policy';

/** Adds CRM jobs with the failure policy's options. */
@Injectable()
export class SyncQueue {
  constructor(
    private readonly queue: JobQueue,
    private readonly policy: FailurePolicy,
  ) {}

  action(syncId: string, action: SyncAction, delayMs = 0): Promise<void> {
    return this.queue.add<SyncJob>(
      CRM_QUEUE,
      action,
      { syncId },
      this.policy.jobOptions(action, delayMs),
    );
  }

  install(integrationId: string): Promise<void> {
    return this.queue.add<InstallJob>(
      CRM_QUEUE,
      INSTALL_JOB,
      { integrationId },
      this.policy.installJobOptions(),
    );
  }
}
