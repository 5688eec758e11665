// Backup library figures: a synthetic 1M-row Manifest.db (built once, cached in the temp folder),
// PBKDF2 next to python's hashlib with the same parameters, and streamed AES-CBC decryption.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, type BenchResult } from './bench-result.ts';
import { archive, encodeBinaryPlist } from '../src/plist/index.ts';
import { loadSqlite } from '../src/library/sqlite.ts';
import { ManifestDb } from '../src/library/manifest-db.ts';
import { derivePasscodeKey, type Keybag } from '../src/library/crypto/keybag.ts';
import { decryptStream } from '../src/library/crypto/aes-cbc.ts';

const ROWS = 1_000_000;
const CACHE = join(tmpdir(), 'lifeboat-bench-manifest-1m-v1.db');

async function manifestBytes(): Promise<Uint8Array> {
  if (existsSync(CACHE)) return new Uint8Array(await readFile(CACHE));
  const sqlite3 = await loadSqlite();
  const db = new sqlite3.oo1.DB(':memory:');
  const blob = encodeBinaryPlist(
    archive({ $class: 'MBFile', Birth: 1700000000, GroupID: 501, LastModified: 1700000100, LastStatusChange: 1700000200, Mode: 0o100644,
      InodeNumber: 12345, ProtectionClass: 3, RelativePath: 'Library/Folder0/file0.dat', Size: 4096, UserID: 501, Flags: 0,
      EncryptionKey: new Uint8Array(44) }),
  );
  db.exec(`CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);
           CREATE INDEX FilesDomainIdx ON Files(domain); CREATE INDEX FilesRelativePathIdx ON Files(relativePath); CREATE INDEX FilesFlagsIdx ON Files(flags);`);
  // 200 app domains × 5,000 rows; folders of 1,000 files.
  db.exec({
    sql: `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${ROWS})
          INSERT INTO Files SELECT printf('%040x', i), 'AppDomain-com.bench.app' || (i % 200),
            'Library/Folder' || ((i / 200) % 5) || '/file' || i || '.dat', 1, ? FROM n`,
    bind: [blob],
  });
  const bytes = sqlite3.capi.sqlite3_js_db_export(db);
  db.close();
  await writeFile(CACHE, bytes);
  return bytes;
}

async function time<T>(fn: () => Promise<T> | T): Promise<[number, T]> {
  const t = performance.now();
  const v = await fn();
  return [performance.now() - t, v];
}

export default async function (): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const bytes = await manifestBytes();
  await loadSqlite();

  const opens: number[] = [];
  let manifest: ManifestDb | undefined;
  for (let i = 0; i < 2; i++) {
    manifest?.close();
    const [ms, m] = await time(() => ManifestDb.open(bytes));
    opens.push(ms);
    manifest = m;
  }
  results.push({ name: 'library: open 1M-row Manifest.db (incl. index build)', value: median(opens), unit: 'ms', target: 5000, better: 'lower' });

  const lists: number[] = [];
  for (let i = 0; i < 7; i++) lists.push((await time(() => manifest!.list(`AppDomain-com.bench.app${i * 17}`, 'Library/Folder3')))[0]);
  const listed = manifest!.list('AppDomain-com.bench.app0', 'Library/Folder3').length;
  if (listed !== 1000) throw new Error(`list returned ${listed} rows`);
  results.push({ name: 'library: list a 1,000-entry folder (1M rows)', value: median(lists), unit: 'ms', target: 100, better: 'lower' });

  const searches: number[] = [];
  for (let i = 0; i < 5; i++) searches.push((await time(() => manifest!.search(`no-such-file-${i}`)))[0]);
  results.push({ name: 'library: name search, full scan (1M rows)', value: median(searches), unit: 'ms', target: 300, better: 'lower' });
  manifest!.close();

  // PBKDF2: the same two stages python's hashlib runs.
  const dpic = 1_000_000;
  const iter = 10_000;
  const keybag: Keybag = { version: 5, type: 1, uuid: undefined, salt: new Uint8Array(20).fill(1), iterations: iter, dpsl: new Uint8Array(20).fill(2), dpic, classes: [] };
  const ours: number[] = [];
  for (let i = 0; i < 3; i++) ours.push((await time(() => derivePasscodeKey(keybag, 'bench-password')))[0]);
  const py = execFileSync('python3', ['-c', `
import hashlib, time
ts = []
for _ in range(3):
    t = time.perf_counter()
    k = hashlib.pbkdf2_hmac('sha256', b'bench-password', b'\\x02' * 20, ${dpic}, 32)
    hashlib.pbkdf2_hmac('sha1', k, b'\\x01' * 20, ${iter}, 32)
    ts.append((time.perf_counter() - t) * 1000)
print(sorted(ts)[1])`], { encoding: 'utf8' });
  const pyMs = Number(py.trim());
  results.push({ name: `library: PBKDF2 unlock (${dpic} SHA-256 + ${iter} SHA-1), WebCrypto`, value: median(ours), unit: 'ms', target: Math.round(pyMs * 1.3), better: 'lower' });
  results.push({ name: 'library: PBKDF2 unlock, python hashlib (reference)', value: pyMs, unit: 'ms', target: Math.round(pyMs * 1.3), better: 'lower' });

  // Streamed decryption of 64 MiB in 4 MiB chunks.
  const size = 64 * 1024 * 1024;
  const key = await crypto.subtle.importKey('raw', new Uint8Array(32).fill(7), 'AES-CBC', false, ['encrypt', 'decrypt']);
  const plain = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(plain.subarray(at, at + 65536));
  const cipher = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, key, plain));
  const chunk = 4 * 1024 * 1024;
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) {
    const [ms, n] = await time(async () => {
      let total = 0;
      const chunks = (async function* () {
        for (let at = 0; at < cipher.length; at += chunk) yield cipher.subarray(at, Math.min(cipher.length, at + chunk));
      })();
      for await (const p of decryptStream(key, chunks, 'bench')) total += p.length;
      return total;
    });
    if (n !== size) throw new Error(`decrypted ${n} bytes, expected ${size}`);
    rates.push(size / 1024 / 1024 / (ms / 1000));
  }
  results.push({ name: 'library: streamed AES-256-CBC file decrypt', value: median(rates), unit: 'MB/s', target: 500, better: 'higher' });
  // The machine's ceiling: one WebCrypto call over the whole buffer (no streaming), same data.
  const whole: number[] = [];
  for (let i = 0; i < 3; i++) {
    const [ms] = await time(() => crypto.subtle.decrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, key, cipher));
    whole.push(size / 1024 / 1024 / (ms / 1000));
  }
  results.push({ name: 'library: single-shot WebCrypto decrypt (reference ceiling)', value: median(whole), unit: 'MB/s', target: 500, better: 'higher' });
  return results;
}
