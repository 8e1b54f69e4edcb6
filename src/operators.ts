/**
 * rxcoap/operators (browser-safe): the pipeline's steps as RxJS operators, for composing and marble-testing.
 * They run on the same engines as the sessions (the codec, the observe freshness rule, the block-wise rules);
 * the sessions themselves stay imperative inside for speed.
 * @packageDocumentation
 */
export { decodeFrames, type DecodeFramesOptions } from './operators/decode-frames';
export { encodeFrames } from './operators/encode-frames';
export { joinBlocks, type JoinBlocksOptions } from './operators/join-blocks';
export { freshNotifications, type FreshNotificationsOptions } from './operators/fresh-notifications';
export { throwOnErrorCode } from './operators/throw-on-error-code';
export { decodeBody } from './operators/decode-body';
export { reobserveOnError, isConnectionError, type ReobservePolicy } from './operators/reobserve-on-error';
