/**
 * rxcoap/testing in a browser (the `browser` condition of the `./testing` export): the part of the test kit that
 * needs no sockets, for Karma, Vitest's browser mode and other browser test runners. A fake transport for virtual
 * time, a seeded random source, and the hostile responder with its mutations and framings. The loopback test peer,
 * the lossy proxy and the hostile peers open sockets: they are in the Node entry (`rxcoap/testing` in Node), which
 * re-exports everything here.
 * @packageDocumentation
 */
export { createFakeTransport, type FakeTransport, type FakeTransportOptions, type FakeReply, type SentDatagram } from './testing/fake-transport';
export { seededRandom } from './testing/seeded-random';
export type { RandomSource } from './testing/seeded-random';
export { createHostileResponder } from './testing/hostile-responder';
export type { HostileResponder, HostileResponderOptions, HostileDatagram, HostileStats } from './testing/hostile-responder';
export { MUTATION_KINDS, mutateResponse, mutateBytes, spoofedAck, randomFrame, type Mutation, type MutationKind } from './testing/mutate';
export { datagramFraming, streamFraming, webSocketFraming, writeRawBody, rawFromPdu, type HostileFraming, type RawMessage, type RawOption } from './testing/hostile-framing';
export { createCoapTestScheduler, CoapTestScheduler, EXACT_TRANSMISSION, describePdu, sentFrames, normalizeErrors, type DeepEqualAssertion, type DescribePduOptions } from './testing/marbles';
export { emptyAck, resetReply, piggybackedResponse, separateResponse, notification, type ReplyInit, type LaterReplyInit } from './testing/fake-replies';
export { pduMatchers, pduMismatches, matchesPdu, type PduPattern, type PduMatcherResult } from './testing/pdu-matchers';
export { describeTransportContract, datagramPingContract, streamPingContract, webSocketPingContract, type ContractSetup, type ContractTestApi, type ContractExpect } from './testing/transport-contract';
