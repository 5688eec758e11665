import { encodeBinaryPlist } from '../../plist/index.ts';
import { ProceduralContent, StaticContent } from './content.ts';
import { appDeviceFamilies, type Dataset } from './dataset.ts';
import { hashString } from './prng.ts';

/** Files a device profile adds to the generated dataset (the behaviours hosts must survive). */
export interface ProfileFiles {
  /** Names as HFS+/APFS hand them out: decomposed (NFD) accents, next to their composed twins. */
  unicodeNames?: boolean;
  /** Relative paths of ~1,000 bytes, 40 folders deep (PATH_MAX on the phone is 1,024). */
  longPaths?: boolean;
  /** Names that differ only in case (APFS on iOS is case-sensitive). */
  caseTwins?: boolean;
  /** This many apps in total, each with its container and preferences. */
  apps?: number;
  /** One video of this many bytes (over 4 GiB: past every 32-bit length). */
  bigFileBytes?: number;
}

const MTIME = 1709251200 + 86400 * 30;
const encoder = new TextEncoder();

function note(text: string): StaticContent {
  return new StaticContent(encoder.encode(text));
}

export function addProfileFiles(dataset: Dataset, files: ProfileFiles): void {
  const domain = `AppDomain-${dataset.apps[0]!.bundleId}`;
  if (files.unicodeNames) {
    // "Café/Résumé.txt" twice: once composed (NFC), once decomposed (NFD): two files on the phone.
    for (const name of ['Café/Résumé.txt', 'Ångström/Øre – naïve.txt', 'Photos/Ünïcödé 📷.jpg']) {
      dataset.addProfileFile(domain, `Documents/${name.normalize('NFD')}`, note(`NFD ${name}`), MTIME);
      dataset.addProfileFile(domain, `Documents/NFC/${name.normalize('NFC')}`, note(`NFC ${name}`), MTIME);
    }
    dataset.addProfileFile('CameraRollDomain', 'Media/DCIM/100APPLE/Voilà.JPG'.normalize('NFD'), note('nfd photo name'), MTIME);
  }
  if (files.longPaths) {
    const deep = Array.from({ length: 40 }, (_, i) => `folder-level-${String(i).padStart(2, '0')}-xxxxxx`).join('/');
    dataset.addProfileFile(domain, `Library/Caches/${deep}/leaf.bin`, new ProceduralContent(hashString('long-path'), 3000), MTIME);
    dataset.addProfileFile(domain, `Documents/${'a-very-long-file-name-'.repeat(11)}.txt`, note('a 250-byte file name'), MTIME);
  }
  if (files.caseTwins) {
    for (const name of ['Readme.txt', 'README.txt', 'readme.txt']) dataset.addProfileFile(domain, `Documents/Case/${name}`, note(`this is ${name}`), MTIME);
    dataset.addProfileFile(domain, 'Documents/Folder/a.txt', note('in Folder'), MTIME);
    dataset.addProfileFile(domain, 'Documents/folder/a.txt', note('in folder'), MTIME);
  }
  if (files.apps !== undefined && files.apps > dataset.apps.length) {
    for (let i = dataset.apps.length; i < files.apps; i++) {
      const bundleId = `com.example.bulk${String(i).padStart(4, '0')}`;
      dataset.apps.push({ bundleId, name: `Bulk ${i}`, version: `${1 + (i % 7)}.${i % 10}`, deviceFamilies: appDeviceFamilies(bundleId) });
      dataset.addProfileFile(`AppDomain-${bundleId}`, `Library/Preferences/${bundleId}.plist`, new StaticContent(encodeBinaryPlist({ launchCount: i })), MTIME);
    }
  }
  if (files.bigFileBytes !== undefined) {
    dataset.addProfileFile('CameraRollDomain', 'Media/DCIM/100APPLE/IMG_9100.MOV', new ProceduralContent(hashString('big-file'), Math.floor(files.bigFileBytes)), MTIME);
  }
}
