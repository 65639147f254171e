// Frees big per-batch arrays as soon as they are used up. A long run allocates
// about 4 MB per 16-image batch that nothing keeps (the generator's output, the
// RGB images, the RGBA copies for the JPEG encoder); left to the garbage
// collector, which V8 runs after some 64 MB of new external memory, the garbage
// and the allocator's fragmentation around it made resident memory climb over a
// run's first thousands of images (issue 6, bench/serve_bench.ts).

/**
 * Releases the memory of `array`'s buffer now (detaches it with
 * `ArrayBuffer.prototype.transfer(0)`), instead of at the next garbage
 * collection. Only for an array that owns its whole buffer and that nothing
 * else holds; other arrays (views into a larger buffer, WebAssembly memory,
 * shared buffers) are left alone.
 */
export function releaseArray(array: ArrayBufferView): void {
  const buffer = array.buffer;
  if (!(buffer instanceof ArrayBuffer) || array.byteOffset !== 0 || array.byteLength !== buffer.byteLength) return;
  try {
    buffer.transfer(0);
  } catch {
    // Not detachable (e.g. a WebAssembly memory): the collector frees it.
  }
}
