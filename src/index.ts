/**
 * rxcoap: the browser-safe core. Node transports (UDP, DTLS, TCP, TLS) are registered by `rxcoap/node`.
 * @packageDocumentation
 */
export * from './errors';
export { formatPeer, isMulticastHost, isUnixPeer } from './peer-address';
export { CoapContext, DEFAULT_MTU, DEFAULT_MAX_BODY_SIZE, DEFAULT_LEISURE } from './context';
export { ClientSession, type ShorthandInit, type SessionState } from './session/client-session';
export { useDatagramStack } from './session/use-datagram-stack';
export { useStreamFraming } from './session/use-stream-framing';
export type { SessionEvent } from './session/session-events';
export { BlockMode, type BlockModeFlags, type BlockModeOptions } from './session/block-mode';
export type {
  BytesOrText,
  ClientSessionOptions,
  ClientSessionPkiOptions,
  ClientSessionPskOptions,
  CoapContextOptions,
  CoapLogger,
  LocalInterface,
  PskCredentials,
  PskIdentityKey,
  ReconnectOptions,
  ServerAddress,
} from './session/session-options';
export type { PkiCredentials, PkiKey, PkiMaterial } from './pki-credentials';
export type { ReliableOptions } from './session/reliable-stack';
export type { RequestInit, RequestOption } from './session/request-init';
export {
  registerTransport,
  type CoapProto,
  type TransportCredentials,
  type TransportMaker,
  type TransportProperties,
  type TransportTarget,
} from './session/transport-registry';
export { CoapResponse, type BlockProgress } from './exchange/response';
export { randomTokenGenerator, sequentialTokenGenerator, type TokenGenerator } from './exchange/token';
export {
  DEFAULT_TRANSMISSION,
  MAX_TIMER_DELAY,
  exchangeLifetime,
  maxTransmitSpan,
  maxTransmitWait,
  nonLifetime,
  type TransmissionParameters,
  type BaseTransmissionParameters,
} from './message-layer/transmission-params';
export type { Framing, Transport, TransportEvent, TransportFactory } from './transport/transport';
export {
  webSocketTransport,
  webSocketUrl,
  COAP_WS_PATH,
  COAP_WS_SUBPROTOCOL,
  type WebSocketTransportOptions,
  type WebSocketConstructor,
  type WebSocketLike,
  type WebSocketConnector,
  type Corkable,
  type WebSocketFailureReason,
  type WebSocketMessageEventLike,
  type WebSocketCloseEventLike,
} from './transport/websocket';
export * from './codec/pdu';
export * from './codec/option-numbers';
export * from './codec/option-values';
export * from './codec/block';
export * from './codec/content-format';
export * from './codec/payload';
export * from './codec/link-format';
export * from './codec/uri';
export { encodeDatagram, decodeDatagram } from './codec/udp-codec';
export { optionInfo, optionByName, optionName, formatOptionValue, findUnknownCritical, type OptionInfo } from './codec/option-registry';
export { throwOnErrorCode } from './operators/throw-on-error-code';
export type { ObserveInit, ReleaseOptions } from './session/client-session';
export type { ResolvedPsk } from './session/session-options';
export type { OptionFormat } from './codec/option-registry';
