import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '../../src/lockdown/x509.ts';
import { buildPairingCertificates, certificatePem, exportPrivateKeyPem, generateRsaKeyPair } from '../../src/lockdown/certificates.ts';
import { decodePem, devicePublicKeyToSpki, privateKeyPemToPkcs8 } from '../../src/lockdown/pem.ts';
import { bytesEqual } from '../../src/core/bytes.ts';
import { sharedDeviceKey } from '../../src/virtual-iphone/lockdownd/device-key.ts';

async function fixture() {
  const device = await sharedDeviceKey();
  const [rootKeys, hostKeys] = await Promise.all([generateRsaKeyPair(true), generateRsaKeyPair(false)]);
  const now = new Date('2025-03-01T12:00:00Z');
  const certs = await buildPairingCertificates({ devicePublicKey: device.devicePublicKeyPem, rootKeys, hostKeys, now });
  return { device, rootKeys, hostKeys, now, certs };
}

test('DevicePublicKey is PKCS#1 PEM and unwraps to the device SPKI', async () => {
  const device = await sharedDeviceKey();
  const block = decodePem(device.devicePublicKeyPem);
  assert.equal(block.label, 'RSA PUBLIC KEY');
  assert.ok(bytesEqual(devicePublicKeyToSpki(device.devicePublicKeyPem), device.spki));
});

test('certificates follow the lockdown profile (parsed with @peculiar/x509)', async () => {
  const { device, hostKeys, now, certs } = await fixture();
  for (const cert of [certs.root, certs.host, certs.device]) {
    assert.equal(cert.serialNumber, '01');
    assert.equal(cert.subject, '');
    assert.equal(cert.issuer, '');
    assert.equal(cert.notBefore.getTime(), now.getTime() - 60_000);
    assert.ok(cert.notAfter.getTime() - now.getTime() > 9.9 * 365 * 86400_000);
    assert.equal((cert.signatureAlgorithm as RsaHashedKeyAlgorithm).hash.name, 'SHA-256');
    assert.ok(await cert.verify({ publicKey: certs.root.publicKey, signatureOnly: true }));
    // empty names are an empty SEQUENCE (30 00) in the DER
    const der = Buffer.from(cert.rawData).toString('hex');
    assert.ok(der.includes('30003022') || der.includes('3000301e'), 'issuer is 30 00 before validity');
  }
  const root = certs.root.getExtension(x509.BasicConstraintsExtension)!;
  assert.equal(root.ca, true);
  assert.equal(root.critical, true);
  for (const leaf of [certs.host, certs.device]) {
    assert.equal(leaf.getExtension(x509.BasicConstraintsExtension)!.ca, false);
    const usage = leaf.getExtension(x509.KeyUsagesExtension)!;
    assert.equal(usage.critical, true);
    assert.equal(usage.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  }
  assert.ok(certs.device.getExtension(x509.SubjectKeyIdentifierExtension));
  assert.equal(certs.root.getExtension(x509.SubjectKeyIdentifierExtension), null);
  assert.ok(bytesEqual(new Uint8Array(certs.device.publicKey.rawData), device.spki));
  const hostSpki = new Uint8Array(await crypto.subtle.exportKey('spki', hostKeys.publicKey));
  assert.ok(bytesEqual(new Uint8Array(certs.host.publicKey.rawData), hostSpki));
  assert.equal(hostKeys.privateKey.extractable, false, 'browser-style host key stays non-extractable');
});

test('openssl reads the certificates and verifies the chain', async () => {
  const { certs, rootKeys } = await fixture();
  const dir = mkdtempSync(join(tmpdir(), 'lockdown-certs-'));
  try {
    writeFileSync(join(dir, 'root.pem'), certificatePem(certs.root));
    writeFileSync(join(dir, 'host.pem'), certificatePem(certs.host));
    writeFileSync(join(dir, 'device.pem'), certificatePem(certs.device));
    writeFileSync(join(dir, 'root.key'), await exportPrivateKeyPem(rootKeys.privateKey));
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'device.pem'), '-noout', '-text'], { encoding: 'utf8' });
    assert.match(text, /Version: 3 \(0x2\)/);
    assert.match(text, /Serial Number: 1 \(0x1\)/);
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(text, /Public-Key: \(2048 bit\)/);
    assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(text, /Subject Key Identifier/);
    const rootText = execFileSync('openssl', ['x509', '-in', join(dir, 'root.pem'), '-noout', '-text'], { encoding: 'utf8' });
    assert.match(rootText, /Basic Constraints: critical\s+CA:TRUE/);
    // the host certificate's signature checks out against the root key (OpenSSL, independent of WebCrypto)
    // (openssl verify cannot chain certificates whose names are all empty, so check with python's cryptography)
    const script = [
      'import sys',
      'from cryptography import x509',
      'from cryptography.hazmat.primitives.asymmetric import padding',
      'root = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())',
      'for path in sys.argv[2:]:',
      '    c = x509.load_pem_x509_certificate(open(path, "rb").read())',
      '    root.public_key().verify(c.signature, c.tbs_certificate_bytes, padding.PKCS1v15(), c.signature_hash_algorithm)',
      'print("verified", len(sys.argv) - 2)',
    ].join('\n');
    const out = execFileSync('python3', ['-c', script, join(dir, 'root.pem'), join(dir, 'host.pem'), join(dir, 'device.pem'), join(dir, 'root.pem')], { encoding: 'utf8' });
    assert.equal(out.trim(), 'verified 3');
    const key = execFileSync('openssl', ['rsa', '-in', join(dir, 'root.key'), '-noout', '-check'], { encoding: 'utf8' });
    assert.match(key, /RSA key ok/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('private keys in PKCS#1 and PKCS#8 PEM both load', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockdown-keys-'));
  try {
    const pkcs1 = execFileSync('openssl', ['genrsa', '-traditional', '2048'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(pkcs1, /BEGIN RSA PRIVATE KEY/);
    writeFileSync(join(dir, 'k.pem'), pkcs1);
    const pkcs8 = execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', join(dir, 'k.pem')], { encoding: 'utf8' });
    const a = privateKeyPemToPkcs8(pkcs1);
    const b = privateKeyPemToPkcs8(pkcs8);
    assert.ok(bytesEqual(a, b), 'PKCS#1 wrapped to PKCS#8 equals what openssl writes');
    await crypto.subtle.importKey('pkcs8', a as Uint8Array<ArrayBuffer>, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
