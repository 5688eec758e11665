export type { AttachedDevice, DeviceConnector, PairRecordSource } from './device-connector.ts';
export { LOCKDOWN_PORT } from './device-connector.ts';
export { MuxDeviceConnector } from './mux-device-connector.ts';
export { MuxSession, type MuxSessionOptions } from './mux-session.ts';
export { MuxConnection } from './mux-connection.ts';
export { MuxConnectionClosedError } from './mux-errors.ts';
