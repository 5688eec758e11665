import { decodePlist, encodeBinaryPlist, encodeXmlPlist, type PlistValue } from '../src/plist/index.ts';
import { median, type BenchResult } from './bench-result.ts';

/** A Manifest.plist-shaped document (~3 MB binary, ~6 MB XML): 20k file entries. */
function manifestLike(): PlistValue {
  const files: Record<string, PlistValue> = {};
  for (let i = 0; i < 20000; i++) {
    files[i.toString(16).padStart(40, '0')] = {
      Domain: 'AppDomain-com.example.app',
      Path: `Library/Caches/é-${i}.db`,
      Size: i * 17,
      Hash: new Uint8Array(20).fill(i & 255),
    };
  }
  return { Files: files, Version: '10.0', IsEncrypted: false };
}

function throughput(name: string, bytes: number, run: () => void, target: number): BenchResult {
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  return { name, value: Math.round(bytes / 1e6 / (median(times) / 1000)), unit: 'MB/s', target, better: 'higher' };
}

export default async (): Promise<BenchResult[]> => {
  const value = manifestLike();
  const binary = encodeBinaryPlist(value);
  const xml = encodeXmlPlist(value);
  return [
    throughput('plist: decode binary (3 MB manifest)', binary.length, () => decodePlist(binary), 20),
    throughput('plist: encode binary (3 MB manifest)', binary.length, () => encodeBinaryPlist(value), 20),
    throughput('plist: decode XML (6 MB manifest)', xml.length, () => decodePlist(xml), 30),
    throughput('plist: encode XML (6 MB manifest)', xml.length, () => encodeXmlPlist(value), 30),
  ];
};
