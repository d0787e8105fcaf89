/* Photo preparation in the browser: decode with the EXIF orientation applied, scale the long edge to
 * 1600 px, re-encode as JPEG (~0.8). Re-encoding also drops the camera's EXIF (GPS included): the
 * position travels in the finding's own fields. The original never leaves the phone. */
export const MAX_EDGE = 1600;
export const QUALITY = 0.8;
export const THUMB_EDGE = 240;

async function decode(blob) {
  if (typeof createImageBitmap === "function") {
    try {
      return await createImageBitmap(blob, { imageOrientation: "from-image" });
    } catch (err) {
      // Older Safari rejects the options bag; an <img> applies EXIF orientation by default instead.
    }
  }
  const url = URL.createObjectURL(blob);
  try {
    const img = new Image();
    img.decoding = "async";
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

function sizeOf(source) {
  return { width: source.naturalWidth || source.width, height: source.naturalHeight || source.height };
}

function fit({ width, height }, maxEdge) {
  const scale = Math.min(1, maxEdge / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

async function encode(source, target, quality) {
  if (typeof OffscreenCanvas === "function") {
    const canvas = new OffscreenCanvas(target.width, target.height);
    const ctx = canvas.getContext("2d");
    if (ctx) {
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(source, 0, 0, target.width, target.height);
      return canvas.convertToBlob({ type: "image/jpeg", quality });
    }
  }
  const canvas = document.createElement("canvas");
  canvas.width = target.width;
  canvas.height = target.height;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(source, 0, 0, target.width, target.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  // Free the backing store now: iOS caps total canvas memory and fails quietly past it.
  canvas.width = 0;
  canvas.height = 0;
  return blob;
}

/**
 * Downscale one picked photo. Returns { bytes: ArrayBuffer, mime, width, height, thumb: { bytes, mime } }.
 * Throws when the browser cannot decode the file (e.g. HEIC outside Safari); the caller keeps the original.
 */
export async function preparePhoto(bytes, mime, { maxEdge = MAX_EDGE, quality = QUALITY } = {}) {
  const source = await decode(new Blob([bytes], { type: mime || "image/jpeg" }));
  try {
    const target = fit(sizeOf(source), maxEdge);
    const main = await encode(source, target, quality);
    const thumb = await encode(source, fit(sizeOf(source), THUMB_EDGE), 0.7);
    if (!main || !thumb) throw new Error("the browser could not encode the photo");
    return {
      bytes: await main.arrayBuffer(),
      mime: "image/jpeg",
      width: target.width,
      height: target.height,
      thumb: { bytes: await thumb.arrayBuffer(), mime: "image/jpeg" },
    };
  } finally {
    if (source.close) source.close();
  }
}
