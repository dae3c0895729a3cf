export {
  ACKS_ALL,
  createConsumer,
  createKafka,
  createProducer,
  ensureTopics,
  groupJoined,
  type KafkaClientOptions,
  waitForGroupCoordinator,
  waitForLeaders,
} from './client';
export { KeyedProducer, partitionForKey } from './KeyedProducer';
export * from './topics';
