// The TLS bulk measurement, shared by the Node bench and the browser worker: our client → our server
// over an in-memory stream pair, 1 MiB writes, MB/s (10^6 bytes per second) of plaintext delivered.
import { createStreamPair } from '../../src/core/stream-pair.ts';
import { acceptTls, certificatesFromPem, connectTls, importRsaPrivateKeyPem, type TlsIdentity } from '../../src/tls/index.ts';

const WRITE_SIZE = 1 << 20;

export async function identityFromPem(certificatePem: string, privateKeyPem: string): Promise<TlsIdentity> {
  return { certificateChain: certificatesFromPem(certificatePem), privateKey: await importRsaPrivateKeyPem(privateKeyPem) };
}

export async function measureTlsUpload(suite: number, identity: TlsIdentity, total: number): Promise<number> {
  const [a, b] = createStreamPair(4 << 20);
  const [client, server] = await Promise.all([
    connectTls(a, { identity, cipherSuites: [suite] }),
    acceptTls(b, { identity, requestClientCertificate: true }),
  ]);
  const data = new Uint8Array(WRITE_SIZE).fill(0x5a);
  const started = performance.now();
  const writer = (async () => {
    for (let sent = 0; sent < total; sent += WRITE_SIZE) await client.write(data);
    await client.close();
  })();
  let received = 0;
  for (let chunk = await server.read(); chunk; chunk = await server.read()) received += chunk.byteLength;
  await writer;
  const seconds = (performance.now() - started) / 1000;
  await server.close();
  if (received !== total) throw new Error(`received ${received} of ${total}`);
  return total / 1e6 / seconds;
}
