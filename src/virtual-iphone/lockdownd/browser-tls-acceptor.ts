import { acceptTls } from '../../tls/index.ts';
import type { DeviceTlsAcceptor } from './session-tls.ts';

/** Device side of lockdown TLS on Lifeboat's own TLS 1.2 server (browser workers, demo mode). */
export const browserTlsAcceptor: DeviceTlsAcceptor = {
  async accept(stream, identity, checkClient) {
    const connection = await acceptTls(stream, {
      identity: { certificateChain: [identity.certificateDer], privateKey: identity.privateKey },
      rsaPrivateKeyPkcs8: identity.privateKeyPkcs8,
      requestClientCertificate: true,
      verifyClientCertificate: checkClient,
    });
    return {
      stream: connection,
      async stop() {
        // After StopSession the host sends close_notify (our read() then ends); answer with ours.
        await connection.shutdown();
      },
    };
  },
};
