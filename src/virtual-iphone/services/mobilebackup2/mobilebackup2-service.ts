import type { ByteStream } from '../../../core/byte-stream.ts';
import { isPlistDict, PlistReal, type PlistDict } from '../../../plist/index.ts';
import { BackupEncryption } from '../../encryption/backup-encryption.ts';
import { NOTIFICATIONS } from '../notification-center.ts';
import { BackupFailure, BackupRun, versionAtLeast } from './backup-agent.ts';
import type { BackupDeviceState, DeviceBehaviour } from './backup-state.ts';
import { DeviceLinkEndpoint, LinkClosedError } from './device-link.ts';
import { RestoreRun } from './restore-agent.ts';

export const MOBILEBACKUP2_SERVICE = 'com.apple.mobilebackup2';
const PROTOCOL_VERSIONS = [2.0, 2.1];

/** com.apple.mobilebackup2 on the device: DeviceLink handshake, Hello, then one request at a time. */
export function mobileBackup2Handler(state: BackupDeviceState): (stream: ByteStream) => void {
  return (stream) => {
    void serveMobileBackup2(stream, state).catch(() => stream.close());
  };
}

function response(errorCode: number, description?: string): PlistDict {
  return { MessageName: 'Response', ErrorCode: errorCode, ...(description ? { ErrorDescription: description } : {}) };
}

async function serveMobileBackup2(stream: ByteStream, state: BackupDeviceState): Promise<void> {
  const link = new DeviceLinkEndpoint(stream, state.faults.unplugAtByte, state.faults);
  try {
    await link.handshake();
    for (;;) {
      const message = await link.receive();
      if (message === null || message[0] === 'DLMessageDisconnect') break;
      if (message[0] !== 'DLMessageProcessMessage' || !isPlistDict(message[1])) continue;
      const request = message[1];
      switch (request['MessageName']) {
        case 'Hello':
          await link.processMessage(hello(request, state.behaviour.protocolVersions ?? PROTOCOL_VERSIONS));
          break;
        case 'Backup': {
          const run = new BackupRun(link, state, request);
          await answer(link, state.behaviour, await backup(run));
          // Only a record kept for the next backup: a failure to file it must not fail this one.
          state.backupRecords?.hold(run.remember().catch(() => undefined));
          break;
        }
        case 'Restore': {
          const { reply, reboot } = await restore(link, state, request);
          await answer(link, state.behaviour, reply);
          if (reply['ErrorCode'] === 0) state.changed?.();
          // The phone restarts once the host has its answer: every connection drops, then it is back.
          if (reboot && state.reboot) setTimeout(state.reboot, 50);
          break;
        }
        case 'ChangePassword': {
          const reply = await changePassword(state, request);
          await answer(link, state.behaviour, reply);
          if (reply['ErrorCode'] === 0) state.changed?.();
          break;
        }
        case 'Info':
        case 'List':
          await link.processMessage({ ...response(0), Content: '' });
          break;
        default:
          await link.processMessage(response(1, `Unsupported request ${String(request['MessageName'])}`));
      }
    }
  } catch (error) {
    if (!(error instanceof LinkClosedError)) throw error;
  } finally {
    await stream.close();
  }
}

/**
 * The final answer to a request. A failure comes in the shape this device uses: with an
 * ErrorDescription, with the code alone, or as a DLMessageDisconnect carrying the reason.
 */
async function answer(link: DeviceLinkEndpoint, behaviour: DeviceBehaviour, reply: PlistDict): Promise<void> {
  const failed = reply['ErrorCode'] !== 0;
  const shape = behaviour.errorShape ?? 'description';
  if (failed && shape === 'disconnect') {
    await link.send(['DLMessageDisconnect', typeof reply['ErrorDescription'] === 'string' ? reply['ErrorDescription'] : 'Error']);
    return;
  }
  if (failed && shape === 'code-only') {
    const { ErrorDescription: _dropped, ...rest } = reply;
    await link.processMessage(rest);
    return;
  }
  await link.processMessage(reply);
}

function hello(request: PlistDict, known: readonly number[]): PlistDict {
  const offered = request['SupportedProtocolVersions'];
  const versions = Array.isArray(offered) ? offered.map((v) => (v instanceof PlistReal ? v.value : typeof v === 'number' ? v : NaN)) : [];
  const common = known.filter((v) => versions.some((o) => Math.abs(o - v) < 1e-9));
  if (common.length === 0) return response(1, 'No common protocol version');
  return { MessageName: 'Response', ErrorCode: 0, ProtocolVersion: new PlistReal(Math.max(...common)) };
}

async function backup(run: BackupRun): Promise<PlistDict> {
  try {
    await run.run();
    return response(0);
  } catch (error) {
    if (error instanceof BackupFailure) return response(error.errorCode, error.message);
    throw error;
  }
}

async function restore(link: DeviceLinkEndpoint, state: BackupDeviceState, request: PlistDict): Promise<{ reply: PlistDict; reboot: boolean }> {
  try {
    const outcome = await new RestoreRun(link, state, request).run();
    return { reply: response(0), reboot: outcome.reboot };
  } catch (error) {
    if (error instanceof BackupFailure) return { reply: response(error.errorCode, error.message), reboot: false };
    throw error;
  }
}

/** Enable (NewPassword), disable (OldPassword) or change (both) backup encryption. */
async function changePassword(state: BackupDeviceState, request: PlistDict): Promise<PlistDict> {
  const oldPassword = typeof request['OldPassword'] === 'string' ? request['OldPassword'] : undefined;
  const newPassword = typeof request['NewPassword'] === 'string' ? request['NewPassword'] : undefined;
  if (oldPassword === undefined && newPassword === undefined) return response(1, 'No password given');
  // iOS 13 and later confirm a backup password change with the device passcode.
  if (state.passcode && versionAtLeast(state.productVersion(), '13') && !(await state.passcode.prompt())) return response(208, 'Device locked (passcode not entered)');
  const injected = state.faults.errorAtNextMessage;
  if (injected) {
    state.faults.errorAtNextMessage = undefined;
    return response(injected.code, injected.description);
  }
  const current = state.encryption;
  if (current) {
    if (oldPassword === undefined || !(await current.checkPassword(oldPassword))) return response(207, 'Invalid backup password');
  } else if (oldPassword !== undefined) {
    return response(207, 'Backup encryption is not enabled');
  }
  state.encryption = newPassword !== undefined ? await BackupEncryption.create(newPassword, state.kdf) : null;
  state.setWillEncrypt(state.encryption !== null);
  state.notifications.post(NOTIFICATIONS.backupDomainChanged);
  return response(0);
}
