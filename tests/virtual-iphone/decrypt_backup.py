#!/usr/bin/env python3
"""Independent decryptor for an encrypted iOS backup (test oracle for the virtual iPhone).

usage: decrypt_backup.py BACKUP_DIR PASSWORD
Prints JSON: {"files": {"<domain>-<relativePath>": sha256-of-plaintext, ...}, "rows": N}
Uses only plistlib, sqlite3 and the `cryptography` package (PBKDF2, RFC 3394 unwrap, AES-CBC).
"""
import hashlib, json, os, plistlib, sqlite3, struct, sys, tempfile
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def pbkdf2(algo, password, salt, rounds):
    return PBKDF2HMAC(algorithm=algo, length=32, salt=salt, iterations=rounds).derive(password)


def parse_keybag(data):
    header, classes, current, uuids = {}, {}, None, 0
    i = 0
    while i + 8 <= len(data):
        tag = data[i:i + 4].decode('ascii')
        length = struct.unpack('>I', data[i + 4:i + 8])[0]
        value = data[i + 8:i + 8 + length]
        i += 8 + length
        if tag == 'UUID':
            uuids += 1
            if uuids >= 2:
                current = {}
                classes[len(classes)] = current
                continue
        num = struct.unpack('>I', value)[0] if length == 4 else None
        if current is None:
            header[tag] = num if num is not None and tag not in ('SALT', 'DPSL') else value
        else:
            current[tag] = num if num is not None else value
    return header, list(classes.values())


def aes_cbc_decrypt(key, data):
    d = Cipher(algorithms.AES(key), modes.CBC(b'\0' * 16)).decryptor()
    plain = d.update(data) + d.finalize()
    pad = plain[-1] if plain else 0
    if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
        raise ValueError('bad PKCS#7 padding')
    return plain[:-pad]


def resolve(objects, uid):
    return objects[uid.data if isinstance(uid, plistlib.UID) else uid]


def main():
    root, password = sys.argv[1], sys.argv[2].encode()
    with open(os.path.join(root, 'Manifest.plist'), 'rb') as f:
        manifest = plistlib.load(f)
    assert manifest['IsEncrypted'] is True
    header, classes = parse_keybag(manifest['BackupKeyBag'])
    k1 = pbkdf2(hashes.SHA256(), password, header['DPSL'], header['DPIC'])
    passcode_key = pbkdf2(hashes.SHA1(), k1, header['SALT'], header['ITER'])
    class_keys = {}
    for c in classes:
        if c.get('WRAP', 0) & 2 and 'WPKY' in c:
            class_keys[c['CLAS']] = aes_key_unwrap(passcode_key, c['WPKY'])
    mk = manifest['ManifestKey']
    mclass = struct.unpack('<I', mk[:4])[0]
    manifest_key = aes_key_unwrap(class_keys[mclass], mk[4:])
    with open(os.path.join(root, 'Manifest.db'), 'rb') as f:
        db_bytes = aes_cbc_decrypt(manifest_key, f.read())
    with tempfile.NamedTemporaryFile(suffix='.db', delete=False) as tmp:
        tmp.write(db_bytes)
    try:
        con = sqlite3.connect(tmp.name)
        rows = con.execute('SELECT fileID, domain, relativePath, flags, file FROM Files').fetchall()
        con.close()
    finally:
        os.unlink(tmp.name)
    out = {}
    for file_id, domain, rel, flags, blob in rows:
        if flags != 1:
            continue
        archive = plistlib.loads(blob)
        objects = archive['$objects']
        mbfile = resolve(objects, archive['$top']['root'])
        ek = resolve(objects, mbfile['EncryptionKey'])['NS.data']
        clas = struct.unpack('<I', ek[:4])[0]
        file_key = aes_key_unwrap(class_keys[clas], ek[4:])
        with open(os.path.join(root, file_id[:2], file_id), 'rb') as f:
            plain = aes_cbc_decrypt(file_key, f.read())
        out[domain + '-' + rel] = hashlib.sha256(plain).hexdigest()
    print(json.dumps({'files': out, 'rows': len(rows)}))


main()
