import { encodeJpeg } from './jpeg.ts';
import { Rng } from './prng.ts';

export const PHOTO_WIDTH = 320;
export const PHOTO_HEIGHT = 240;

/** How many different pictures the camera roll cycles through; more would only cost encode time. */
export const DISTINCT_PHOTOS = 4;

/** Procedural scenes (sky and sun, tiles, stripes, rings) so thumbnails look different from each other. */
function paint(variant: number, seed: number, width: number, height: number): Uint8Array {
  const rng = new Rng(seed * 31 + variant);
  const hue = [rng.int(256), rng.int(256), rng.int(256)] as const;
  const cx = width * (0.3 + rng.int(40) / 100);
  const cy = height * (0.3 + rng.int(40) / 100);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r: number;
      let g: number;
      let b: number;
      const d = Math.hypot(x - cx, y - cy);
      switch (variant % 4) {
        case 0: // sky gradient with a sun
          r = 60 + (y * 120) / height;
          g = 120 + (y * 60) / height;
          b = 230 - (y * 80) / height;
          if (d < height / 6) [r, g, b] = [255, 220, 90];
          break;
        case 1: // tiles
          r = ((x >> 5) + (y >> 5)) % 2 ? hue[0] : 255 - hue[0];
          g = ((x >> 5) + (y >> 5)) % 2 ? hue[1] : 200;
          b = (x * 255) / width;
          break;
        case 2: // diagonal stripes
          r = ((x + y) >> 4) % 2 ? 240 : hue[0];
          g = ((x + y) >> 4) % 2 ? hue[1] : 40;
          b = (y * 255) / height;
          break;
        default: // rings
          r = 128 + 127 * Math.sin(d / 9);
          g = 128 + 127 * Math.cos(d / 13 + hue[1]);
          b = hue[2];
      }
      const i = (y * width + x) * 3;
      rgb[i] = r;
      rgb[i + 1] = g;
      rgb[i + 2] = b;
    }
  }
  return rgb;
}

const cache = new Map<string, Uint8Array>();

/** The JPEG for picture `variant` of a seed (320 × 240 unless told); encoded once and reused. */
export function photoJpeg(seed: number, variant: number, width = PHOTO_WIDTH, height = PHOTO_HEIGHT): Uint8Array {
  const key = `${seed}/${variant % DISTINCT_PHOTOS}/${width}x${height}`;
  let jpeg = cache.get(key);
  if (!jpeg) {
    jpeg = encodeJpeg(paint(variant % DISTINCT_PHOTOS, seed, width, height), width, height, 82);
    cache.set(key, jpeg);
  }
  return jpeg;
}
