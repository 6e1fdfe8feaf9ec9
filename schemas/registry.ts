import type { TSchema } from "@sinclair/typebox";
import type { Message } from "./message.ts";
import { MachineAdvert } from "./messages/machine-advert.ts";
import { JobSpec } from "./messages/job-spec.ts";
import { SignedTaskBatch, TaskBatch } from "./messages/task-batch.ts";
import { EnvelopeBody, EnvelopeDelegationBody, MatchEnvelope, MatchReply } from "./messages/match-envelope.ts";
import { Heartbeat, HeartbeatBatch, HeartbeatBatchReply, HeartbeatReply } from "./messages/heartbeat.ts";
import { AccountingRecord, AuditRecord, ErrorReport, LogReport, StateReport } from "./messages/reports.ts";
import { FactoryConfig } from "./messages/factory-config.ts";
import { FactoryControl, FactoryControlReply, SignedFactoryControl } from "./messages/factory-control.ts";
import { FactoryQueueStatus } from "./messages/factory-status.ts";
import { PilotCensus } from "./messages/pilot-census.ts";
import { SiteConfig } from "./messages/site-config.ts";
import { ReplicaCatalog } from "./messages/replica-catalog.ts";
import { SignedTaskControl, TaskControl } from "./messages/task-control.ts";
import { ControlReply, SubmitReply } from "./messages/intake-reply.ts";
import { WmsConfig } from "./messages/wms-config.ts";
import { PoolLeaseReply, PoolLeaseRequest } from "./messages/pool-lease.ts";
import { CredCertificateQuery, CredDelegateBeginBody, CredDelegateBody, CredInfoBody, CredReply, CredRetrieveBody, CredSignedRequest } from "./messages/credentials.ts";

/** Every message whose JSON Schema is exported to schemas/json/ by `npm run schemas`. Add new ones here. */
export const ALL_MESSAGES: ReadonlyArray<Message<TSchema>> = [
  MachineAdvert,
  JobSpec,
  TaskBatch,
  SignedTaskBatch,
  EnvelopeBody,
  EnvelopeDelegationBody,
  MatchEnvelope,
  MatchReply,
  Heartbeat,
  HeartbeatReply,
  HeartbeatBatch,
  HeartbeatBatchReply,
  StateReport,
  ErrorReport,
  LogReport,
  AccountingRecord,
  AuditRecord,
  FactoryConfig,
  FactoryControl,
  SignedFactoryControl,
  FactoryControlReply,
  FactoryQueueStatus,
  PilotCensus,
  SiteConfig,
  ReplicaCatalog,
  TaskControl,
  SignedTaskControl,
  SubmitReply,
  ControlReply,
  WmsConfig,
  CredCertificateQuery,
  CredSignedRequest,
  CredDelegateBeginBody,
  CredDelegateBody,
  CredInfoBody,
  CredRetrieveBody,
  CredReply,
  PoolLeaseRequest,
  PoolLeaseReply,
];
