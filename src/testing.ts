/**
 * rxcoap/testing (Node only): what users and our own specs need to test against CoAP — a loopback test peer
 * with scripted resources and faults, a seeded lossy datagram proxy, and a fake transport for virtual time.
 * Everything of the browser-safe part (`testing-browser.ts`, what browser bundlers get for `rxcoap/testing`) is
 * re-exported here.
 * @packageDocumentation
 */
export * from './testing-browser';
export { startTestPeer } from './testing/test-peer';
export type { TestPeer, TestPeerOptions, TestFault, TestPeerStats, TestPeerEvents, ReceivedPdu, SentPdu } from './testing/test-peer';
export type { TestTransport, TestStreamTransport, TestTlsOptions, TestStreamFault, TestConnection } from './testing/test-peer';
export type { TestResource, TestResponse, TestReply, TestRequest, TestHandler, NotifyType } from './testing/test-resource';
export { startLossyProxy } from './testing/lossy-proxy';
export { DtlsTestServer } from './testing/dtls-test-server';
export type { DtlsTestServerOptions, DtlsTestServerFaults, DtlsTestServerObservations } from './testing/dtls-test-server';
export { startDtlsMitmProxy, tamperDatagram } from './testing/dtls-mitm-proxy';
export type { DtlsMitmProxy, DtlsMitmProxyOptions, DtlsTamper } from './testing/dtls-mitm-proxy';
export { startDtlsListener, hostileDtlsHandler } from './testing/dtls-listener';
export type { DtlsListener, DtlsListenerOptions, DtlsFrameHandler } from './testing/dtls-listener';
export type { LossyProxy, LossyProxyOptions, LossSpec, LossStats } from './testing/lossy-proxy';
export type { LoopbackHost } from './testing/loopback';
export { startHostilePeer } from './testing/hostile-peer';
export type { HostilePeer, HostilePeerOptions, HostilePeerStats, HostileSent, HostileDatagramSent } from './testing/hostile-peer';
export { startHostileUnixPeer } from './testing/hostile-unix-peer';
export type { HostileUnixPeer, HostileUnixPeerOptions, HostileUnixSent } from './testing/hostile-unix-peer';
export { startHostileStreamPeer, hostileStreamConnectionSeed, HostileStreamScript } from './testing/hostile-stream-peer';
export type { HostileStreamPeer, HostileStreamPeerOptions, HostileStreamPeerStats, HostileStreamSent, HostileStreamConnectionInfo, HostileStreamAction, HostileStreamScriptOptions } from './testing/hostile-stream-peer';
export { startHostileWsPeer } from './testing/hostile-ws-peer';
export type { HostileWsPeer, HostileWsPeerOptions, HostileWsPeerStats } from './testing/hostile-ws-peer';
