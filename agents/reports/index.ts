// Public surface of agents/reports/: the RabbitMQ side of "reports must never be lost".
export { declareTopology, checkTopology, deleteTopology, routingKeyFor, reportQueueArguments, deadLetterQueueArguments, QUEUE_KINDS, type ReportQueue } from "./topology.ts";
export { ReportPublisher, type ReportPublisherOptions } from "./report-publisher.ts";
export { ReportConsumer, DEAD_LETTER_HEADERS, seenKeyIn, type ReportConsumerOptions, type ReportConsumerBase, type ReportHandler, type ReportContext, type ConsumerStats } from "./report-consumer.ts";
export { decodeReport, type Decoded } from "./report-decoder.ts";
export { CappedReportList, cappedListPushKeys, LIST_BUCKETS } from "./capped-report-list.ts";
export { requireAttemptSignature, authenticateAttemptReport, auditSealText, AUDIT_RECORD_SEAL_PURPOSE, type AttemptFence, type AdmittedAttempt } from "./report-authentication.ts";
export { ReportRefusals, REFUSAL_CODES, refusedReportsKey, type RefusalCount } from "./report-refusals.ts";
export { QueueDepthSampler, readQueueDepths, sampleQueueDepths, writeQueueDepths, queueDepthKey, SAMPLED_QUEUES, QUEUE_DEPTH_INTERVAL_MS, type QueueDepth, type SampledQueue } from "./queue-depth.ts";
