/**
 * The Firmware Update state machine (LwM2M 1.1 Core Appendix E.6, Figure E.6.1-1): a state type,
 * the events that drive it and a pure transition function. Server-triggered events that the
 * current state does not accept are refused with the response code the request gets.
 */
import { Lwm2mError, ResponseCode } from '../../lwm2m/index.js';

/** State (resource 3). */
export const FirmwareState = { Idle: 0, Downloading: 1, Downloaded: 2, Updating: 3 } as const;
export type FirmwareStateValue = (typeof FirmwareState)[keyof typeof FirmwareState];

/** Update Result (resource 5). */
export const UpdateResult = {
  Initial: 0,
  Success: 1,
  NotEnoughFlash: 2,
  OutOfRam: 3,
  ConnectionLost: 4,
  IntegrityCheckFailure: 5,
  UnsupportedPackageType: 6,
  InvalidUri: 7,
  UpdateFailed: 8,
  UnsupportedProtocol: 9,
} as const;

export interface FirmwareStatus {
  readonly state: FirmwareStateValue;
  readonly result: number;
}

/** Results a failed download reports (the download goes back to Idle). */
export type DownloadFailure = 2 | 3 | 4 | 5 | 6 | 7 | 9;

export type FirmwareEvent =
  /** Write of Package (0) or Package URI (1); `empty` is the reset write (empty string / empty package). */
  | { readonly type: 'write'; readonly empty: boolean }
  | { readonly type: 'download-ok' }
  | { readonly type: 'download-failed'; readonly result: DownloadFailure }
  /** Execute of Update (2). */
  | { readonly type: 'execute-update' }
  | { readonly type: 'update-ok' }
  | { readonly type: 'update-failed'; readonly result: number };

export const initialFirmwareStatus: FirmwareStatus = { state: FirmwareState.Idle, result: UpdateResult.Initial };

/**
 * The next status. Throws Lwm2mError 4.00 for a package write outside Idle (and for any write
 * while Updating), 4.05 for Update executed outside Downloaded; throws a plain Error for a
 * device-side event the state cannot receive (a programming error).
 */
export function firmwareTransition(status: FirmwareStatus, event: FirmwareEvent): FirmwareStatus {
  const { state } = status;
  switch (event.type) {
    case 'write':
      if (state === FirmwareState.Updating) {
        throw new Lwm2mError(ResponseCode.BadRequest, 'firmware is being installed: package writes are refused');
      }
      if (event.empty) return { state: FirmwareState.Idle, result: UpdateResult.Initial };
      if (state !== FirmwareState.Idle) {
        throw new Lwm2mError(ResponseCode.BadRequest, `a package can only be written in Idle (state is ${state}); write an empty one to reset`);
      }
      return { state: FirmwareState.Downloading, result: UpdateResult.Initial };
    case 'download-ok':
      expect(state, FirmwareState.Downloading, event.type);
      return { state: FirmwareState.Downloaded, result: UpdateResult.Initial };
    case 'download-failed':
      expect(state, FirmwareState.Downloading, event.type);
      return { state: FirmwareState.Idle, result: event.result };
    case 'execute-update':
      if (state !== FirmwareState.Downloaded) {
        throw new Lwm2mError(ResponseCode.MethodNotAllowed, `Update can only be executed in Downloaded (state is ${state})`);
      }
      return { state: FirmwareState.Updating, result: UpdateResult.Initial };
    case 'update-ok':
      expect(state, FirmwareState.Updating, event.type);
      return { state: FirmwareState.Idle, result: UpdateResult.Success };
    case 'update-failed':
      expect(state, FirmwareState.Updating, event.type);
      // Resource 3: "If the Update Resource failed, the state returns at Downloaded"; an integrity
      // failure found while installing means the stored package is unusable: back to Idle.
      return event.result === UpdateResult.UpdateFailed
        ? { state: FirmwareState.Downloaded, result: UpdateResult.UpdateFailed }
        : { state: FirmwareState.Idle, result: event.result };
  }
}

function expect(state: FirmwareStateValue, wanted: FirmwareStateValue, event: string): void {
  if (state !== wanted) throw new Error(`firmware event ${event} in state ${state}`);
}
