import { decodePlist, isPlistDict, type PlistDict, type PlistValue } from '../plist/index.ts';

/** What a restore onto another kind of device does not carry over. */
export type LeftOutCategory = 'photos' | 'messages-attachments' | 'voice-memos' | 'apps';

export const LEFT_OUT_DESCRIPTIONS: Readonly<Record<LeftOutCategory, string>> = {
  photos: 'Photos and videos of the camera roll',
  'messages-attachments': 'Attachments in Messages',
  'voice-memos': 'Voice Memos recordings',
  apps: 'Apps not made for this device, and their data',
};

export type DeviceKind = 'iPhone' | 'iPad' | 'iPod';

export function deviceKindOf(productType: string | undefined): DeviceKind | undefined {
  if (!productType) return undefined;
  if (productType.startsWith('iPad')) return 'iPad';
  if (productType.startsWith('iPhone')) return 'iPhone';
  if (productType.startsWith('iPod')) return 'iPod';
  return undefined;
}

/** UIDeviceFamily number for a device kind (1 iPhone/iPod touch, 2 iPad). */
export function familyOf(kind: DeviceKind): number {
  return kind === 'iPad' ? 2 : 1;
}

/** The app a container domain belongs to: AppDomain-<id>, AppDomainGroup-group.<id>, AppDomainPlugin-<id>.<ext>. */
export function appOfDomain(domain: string, bundleIds: readonly string[]): string | undefined {
  if (domain.startsWith('AppDomain-')) return domain.slice('AppDomain-'.length);
  if (domain.startsWith('AppDomainGroup-group.')) {
    const id = domain.slice('AppDomainGroup-group.'.length);
    return bundleIds.includes(id) ? id : undefined;
  }
  if (domain.startsWith('AppDomainPlugin-')) {
    const plugin = domain.slice('AppDomainPlugin-'.length);
    return bundleIds.find((id) => plugin.startsWith(`${id}.`));
  }
  return undefined;
}

/**
 * The device families each app of a backup was built for, from Info.plist's Applications entries
 * (UIDeviceFamily in their iTunesMetadata). Apps without that information are absent: only the
 * device can tell, when it reinstalls them.
 */
export function appFamilies(info: PlistDict | undefined): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const apps = info?.['Applications'];
  if (!isPlistDict(apps)) return out;
  for (const [id, entry] of Object.entries(apps)) {
    if (!isPlistDict(entry) || !(entry['iTunesMetadata'] instanceof Uint8Array)) continue;
    try {
      const meta = decodePlist(entry['iTunesMetadata']);
      const families = isPlistDict(meta) ? meta['UIDeviceFamily'] : undefined;
      if (Array.isArray(families) && families.length > 0) out.set(id, families.map(toNumber));
    } catch {
      // Unreadable metadata: unknown.
    }
  }
  return out;
}

function toNumber(value: PlistValue): number {
  return typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : 0;
}

/** Why one backup item does not go onto a device of another kind, or undefined when it does. */
export function leftOutCategory(domain: string, relativePath: string, appsNotBuiltForTarget: ReadonlySet<string>, bundleIds: readonly string[]): LeftOutCategory | undefined {
  if (domain === 'CameraRollDomain') return 'photos';
  if ((domain === 'HomeDomain' || domain === 'MediaDomain') && (relativePath === 'Library/SMS/Attachments' || relativePath.startsWith('Library/SMS/Attachments/'))) {
    return 'messages-attachments';
  }
  if (domain === 'MediaDomain' && (relativePath === 'Media/Recordings' || relativePath.startsWith('Media/Recordings/'))) return 'voice-memos';
  const app = appOfDomain(domain, bundleIds);
  if (app !== undefined && appsNotBuiltForTarget.has(app)) return 'apps';
  return undefined;
}
