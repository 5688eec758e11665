import { decodePlist, encodeBinaryPlist, encodeXmlPlist, type PlistValue } from './src/plist/index.ts';
const files: Record<string, PlistValue> = {};
for (let i = 0; i < 20000; i++) files[`f${i.toString(16).padStart(40, '0')}`] = { Domain: 'AppDomain-com.example', Path: `Library/Caches/file-${i}.db`, Size: i * 17, Hash: new Uint8Array(20).fill(i & 255) };
const value = { Files: files, Version: '10.0' };
for (let k = 0; k < 2; k++) {
let t = performance.now(); const b = encodeBinaryPlist(value); console.log('encBin', b.length, performance.now() - t);
t = performance.now(); decodePlist(b); console.log('decBin', performance.now() - t);
t = performance.now(); const x = encodeXmlPlist(value); console.log('encXml', x.length, performance.now() - t);
t = performance.now(); decodePlist(x); console.log('decXml', performance.now() - t);
}
