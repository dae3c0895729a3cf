export {
  ACKS_ALL,
  createConsumer,
  createKafka,
  createProducer,
  ensureTopics,
  type KafkaClientOptions,
  waitForGroupCoordinator,
} from './client';
export * from './topics';
