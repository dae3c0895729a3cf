import type { Method, RequestData, ResponseData } from '../../proto/signaling/messages';
import type { Conference } from '../conference/Conference';
import type { Participant } from '../conference/Participant';

/** What a handler acts on: the caller, in its conference. */
export interface HandlerContext {
  conference: Conference;
  participant: Participant;
}

type Handler<M extends Method> = (
  ctx: HandlerContext,
  data: RequestData<M>,
) => Promise<ResponseData[M]> | ResponseData[M];

/**
 * One handler per signaling method, after `join` (the Connection handles `join` and `prepare`, which make the
 * context). Data is already validated against the method's schema; grants and ownership are checked by
 * the Conference.
 */
export const handlers: { [M in Exclude<Method, 'join' | 'prepare'>]: Handler<M> } = {
  leave: async ({ conference, participant }) => {
    // The Connection closes the socket once this answer is sent.
    await conference.leave(participant, 'left', null);
    return {};
  },
  'transport.create': ({ conference, participant }, d) =>
    conference.createTransport(participant, d.direction),
  'transport.connect': async ({ conference, participant }, d) => {
    await conference.connectTransport(participant, d.transportId, d.dtlsParameters);
    return {};
  },
  'transport.restartIce': ({ conference, participant }, d) =>
    conference.restartIce(participant, d.transportId),
  produce: ({ conference, participant }, d) => conference.produce(participant, d),
  'producer.pause': async ({ conference, participant }, d) => {
    await conference.pauseProducer(participant, d.producerId);
    return {};
  },
  'producer.resume': async ({ conference, participant }, d) => {
    await conference.resumeProducer(participant, d.producerId);
    return {};
  },
  'producer.close': ({ conference, participant }, d) => {
    conference.closeProducer(participant, d.producerId);
    return {};
  },
  consume: ({ conference, participant }, d) =>
    conference.consume(participant, d.producerId, d.rtpCapabilities),
  'consumer.resume': async ({ conference, participant }, d) => {
    await conference.resumeConsumer(participant, d.consumerId);
    return {};
  },
  'consumer.pause': async ({ conference, participant }, d) => {
    await conference.pauseConsumer(participant, d.consumerId);
    return {};
  },
  'consumer.setPreferredLayers': async ({ conference, participant }, d) => {
    await conference.setPreferredLayers(participant, d.consumerId, d.spatialLayer, d.temporalLayer);
    return {};
  },
  'consumer.requestKeyFrame': async ({ conference, participant }, d) => {
    await conference.requestKeyFrame(participant, d.consumerId);
    return {};
  },
  'chat.send': ({ conference, participant }, d) => conference.sendChat(participant, d),
  'chat.history': ({ conference }, d) => conference.chatHistory(d.after, d.limit),
};
