/** Public surface of the CoAP layer. */
export * from './types.js';
export { CoapError, type CoapErrorCode } from './error.js';
export { encodeMessage, decodeMessage } from './message.js';
export * from './option.js';
export { encodeBlock, decodeBlock, szxToSize, sizeToSzx, type BlockValue } from './block.js';
export { systemClock, ManualClock, type Clock } from './clock.js';
export { MemoryTransport } from './memory.js';
export { CoapEndpoint, type CoapEndpointOptions } from './endpoint.js';
export { UdpTransport, bindUdpSocket, SERVER_SOCKET_BUFFER } from './udp.js';
