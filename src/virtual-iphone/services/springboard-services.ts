import type { ByteStream } from '../../core/byte-stream.ts';
import { isPlistDict, PlistConnection } from '../../plist/index.ts';
import { appIconPng } from './png.ts';

export const SPRINGBOARD_SERVICE = 'com.apple.springboardservices';

/** com.apple.springboardservices: app icons (getIconPNGData) and a trivial icon state. */
export function springboardHandler(): (stream: ByteStream) => void {
  return (stream) => {
    void serve(stream).catch(() => stream.close());
  };
}

async function serve(stream: ByteStream): Promise<void> {
  const conn = new PlistConnection(stream, 'springboardservices');
  try {
    for (;;) {
      const message = await conn.receiveOrEnd();
      if (message === null) break;
      if (!isPlistDict(message)) continue;
      switch (message['command']) {
        case 'getIconPNGData':
          await conn.send({ pngData: appIconPng(typeof message['bundleId'] === 'string' ? message['bundleId'] : '') }, 'binary');
          break;
        case 'getHomeScreenWallpaperPNGData':
          await conn.send({ pngData: appIconPng('wallpaper', 120) }, 'binary');
          break;
        case 'getInterfaceOrientation':
          await conn.send({ interfaceOrientation: 1 });
          break;
        case 'getIconState':
          await conn.send([[]]);
          break;
        default:
          await conn.send({});
      }
    }
  } finally {
    await stream.close();
  }
}
