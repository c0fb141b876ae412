import { describe, expect, it } from "vitest";
import { base64ToFloat32, float32ToBase64 } from "../../src/vectors/vector-base64";

describe("vectors as base64 float32", () => {
  it("is OpenAI's encoding: little-endian float32 bytes", () => {
    expect(float32ToBase64([1])).toBe("AACAPw==");
    expect(float32ToBase64([1, -2])).toBe("AACAPwAAAMA=");
  });

  it("round-trips a long vector, and refuses text that is not whole float32s", () => {
    const vector = Array.from({ length: 10_000 }, (_, i) => Math.fround(Math.sin(i)));
    expect([...(base64ToFloat32(float32ToBase64(vector)) ?? [])]).toEqual(vector);
    expect(base64ToFloat32("AACA")).toBeUndefined();
    expect(base64ToFloat32("not base64!")).toBeUndefined();
  });
});
