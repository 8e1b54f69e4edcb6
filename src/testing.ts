/**
 * rxcoap/testing (Node only): what users and our own specs need to test against CoAP — a loopback test peer
 * with scripted resources and faults, a seeded lossy datagram proxy, and a fake transport for virtual time.
 * @packageDocumentation
 */
export { startTestPeer } from './testing/test-peer';
export type { TestPeer, TestPeerOptions, TestFault, TestPeerStats, TestPeerEvents, ReceivedPdu, SentPdu } from './testing/test-peer';
export type { TestTransport, TestStreamTransport, TestTlsOptions, TestStreamFault, TestConnection } from './testing/test-peer';
export type { TestResource, TestResponse, TestReply, TestRequest, TestHandler, NotifyType } from './testing/test-resource';
export { startLossyProxy } from './testing/lossy-proxy';
export type { LossyProxy, LossyProxyOptions, LossSpec, LossStats } from './testing/lossy-proxy';
export { seededRandom } from './testing/seeded-random';
export type { RandomSource } from './testing/seeded-random';
export type { LoopbackHost } from './testing/loopback';
export { createFakeTransport, type FakeTransport, type FakeTransportOptions, type FakeReply, type SentDatagram } from './testing/fake-transport';
export { startHostilePeer } from './testing/hostile-peer';
export type { HostilePeer, HostilePeerOptions, HostilePeerStats, HostileSent } from './testing/hostile-peer';
export { createHostileResponder } from './testing/hostile-responder';
export type { HostileResponder, HostileResponderOptions, HostileDatagram, HostileStats } from './testing/hostile-responder';
export { MUTATION_KINDS, mutateResponse, mutateBytes, spoofedAck, randomFrame, type Mutation, type MutationKind } from './testing/mutate';
export { datagramFraming, streamFraming, webSocketFraming, writeRawBody, rawFromPdu, type HostileFraming, type RawMessage, type RawOption } from './testing/hostile-framing';
export { startHostileStreamPeer, hostileStreamConnectionSeed, HostileStreamScript } from './testing/hostile-stream-peer';
export type { HostileStreamPeer, HostileStreamPeerOptions, HostileStreamPeerStats, HostileStreamSent, HostileStreamConnectionInfo, HostileStreamAction, HostileStreamScriptOptions } from './testing/hostile-stream-peer';
