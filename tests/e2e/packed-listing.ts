/**
 * For e2e tests: lists a device folder of the packed OPFS store (src/stores/packed) from the page, with the
 * file count and bytes the catalogue gives its current backup and the bytes of the store's OPFS files,
 * where the app's modules are not importable. It replays snapshot + journal the way layout.ts
 * does (frames: u32 length, u32 CRC, JSON), checksums skipped: a listing, not a recovery.
 * Kept as source text so page.evaluate gets plain JavaScript (no bundler helpers).
 */
export function packedListingScript(folder: string, udid: string): string {
  return `(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(${JSON.stringify(folder)});
    const names = [];
    for await (const [name] of dir.entries()) names.push(name);
    const gen = Math.max(0, ...names.filter((n) => /^(snapshot|journal)-\\d+$/.test(n)).map((n) => Number(n.split('-')[1])));
    const frames = async (name) => {
      if (!names.includes(name)) return [];
      const bytes = new Uint8Array(await (await (await dir.getFileHandle(name)).getFile()).arrayBuffer());
      const view = new DataView(bytes.buffer);
      const out = [];
      for (let at = 0; at + 8 <= bytes.length; ) {
        const len = view.getUint32(at, true);
        if (at + 8 + len > bytes.length) break;
        try { out.push(JSON.parse(new TextDecoder().decode(bytes.subarray(at + 8, at + 8 + len)))); } catch { break; }
        at += 8 + len;
      }
      return out;
    };
    const entries = new Map(); // path -> size, or -1 for a directory
    const flatten = (list, prefix) => {
      for (const e of list) {
        const p = prefix ? prefix + '/' + e[0] : e[0];
        entries.set(p, e.length === 2 ? -1 : e[3]);
        if (e.length === 2) flatten(e[1], p);
      }
    };
    const [snapshot] = await frames('snapshot-' + gen);
    if (snapshot) flatten(snapshot.root, '');
    const under = (p, root) => p === root || p.startsWith(root + '/');
    for (const r of await frames('journal-' + gen)) {
      if (r[0] === 'D') { const parts = r[1].split('/'); for (let i = 1; i <= parts.length; i++) entries.set(parts.slice(0, i).join('/'), -1); }
      if (r[0] === 'F') entries.set(r[1], r[4]);
      if (r[0] === 'X') for (const p of [...entries.keys()]) if (r[1] === '' || under(p, r[1])) entries.delete(p);
      if (r[0] === 'R') for (const [p, v] of [...entries]) if (under(p, r[1])) { entries.delete(p); entries.set(r[2] + p.slice(r[1].length), v); }
    }
    const prefix = ${JSON.stringify(udid)} + '/';
    const children = [...entries.keys()].filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).map((p) => p.slice(prefix.length));
    const devices = [...entries.keys()].filter((p) => !p.includes('/') && !p.startsWith('.') && entries.get(p) === -1);
    // The catalogue's own figures for the device's current backup, and what the store's OPFS files hold.
    let fileCount = 0, fileBytes = 0, diskBytes = 0;
    for (const [p, size] of entries) if (p.startsWith(prefix) && size >= 0) { fileCount++; fileBytes += size; }
    for await (const [, handle] of dir.entries()) if (handle.kind === 'file') diskBytes += (await handle.getFile()).size;
    return { devices: devices.sort(), names: children.sort(), statusBytes: entries.get(prefix + 'Status.plist') ?? -1, fileCount, fileBytes, diskBytes };
  })()`;
}
