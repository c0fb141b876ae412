// A vector as base64 of its float32 bytes (little-endian, as on every platform Workers run on): OpenAI's
// `encoding_format: "base64"`, and how a cache entry carries its question's vector.

export function float32ToBase64(vector: ArrayLike<number>): string {
  const bytes = new Uint8Array(Float32Array.from(vector).buffer);
  let binary = "";
  // In slices: one spread of a long vector's bytes into fromCharCode could exceed the argument limit.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** The inverse; undefined for text that is not base64 of whole float32 values. */
export function base64ToFloat32(text: string): Float32Array | undefined {
  try {
    const binary = atob(text);
    if (binary.length % 4 !== 0) return undefined;
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  } catch {
    return undefined;
  }
}
