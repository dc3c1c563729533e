// Thin C shim over the system libraries Kallima uses.
// Only KallimaOpenCL (OpenCL, CLBlast) and KallimaData (libpng, libjpeg, zlib) import this module.
// libpng and libjpeg report errors with longjmp; every setjmp lives in shim.c, so a decode
// error returns a status code and a message and never unwinds through Swift frames.
#ifndef CKALLIMA_H
#define CKALLIMA_H

// Pin the API level before any OpenCL header: Kallima uses OpenCL 1.2 entry points only,
// so it runs on every driver from PoCL to NVIDIA's 1.2/3.0 stacks.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <clblast_c.h>
#include <png.h>
#include <stddef.h>
#include <stdint.h>

/// Writes an 8-bit RGB or gray image with libpng's simplified API (which never longjmps
/// into Swift). channels is 1 (gray) or 3 (RGB). Returns 0 on success, or fills `message`.
int kallima_png_write(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
                      uint32_t channels, char *message, size_t message_capacity);

/// Inflates a raw deflate stream (no zlib or gzip wrapper, as zip members store it) of
/// `input_length` bytes into `output`, which holds `output_capacity` bytes. Returns 0 and sets
/// *produced when the stream ends within the input and fits the output; otherwise 1 and fills
/// `message` (corrupt data, a stream that does not end, or more output than declared).
int kallima_inflate_raw(const uint8_t *input, size_t input_length, uint8_t *output, size_t output_capacity,
                        size_t *produced, char *message, size_t message_capacity);

/// CRC-32 (ISO 3309, zlib's crc32) of `length` bytes.
uint32_t kallima_crc32(const uint8_t *bytes, size_t length);

/// Reads any PNG as 8-bit RGB. On success *pixels is malloc'd (free with kallima_free).
int kallima_png_read_rgb(const char *path, uint8_t **pixels, uint32_t *width, uint32_t *height,
                         char *message, size_t message_capacity);

/// Reads a baseline or progressive JPEG as 8-bit RGB, row-major, 3 bytes per pixel.
/// Grayscale converts to RGB (R = G = B); CMYK and YCCK (Adobe) convert to RGB in C with
/// R = (255 - C)(255 - K) / 255 (Adobe files store inverted CMYK, which is undone first).
/// A truncated file ("premature end of JPEG file") is an error, not a gray-filled image.
/// On success *pixels is malloc'd (free with kallima_free); returns 0, or 1 and fills `message`.
int kallima_jpeg_read_rgb(const char *path, uint8_t **pixels, uint32_t *width, uint32_t *height,
                          char *message, size_t message_capacity);

/// Writes an 8-bit JPEG. components is 1 (gray), 3 (RGB) or 4 (CMYK, stored as given, with
/// libjpeg's Adobe marker); quality is 1...100. Returns 0, or 1 and fills `message`.
int kallima_jpeg_write(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
                       uint32_t components, int quality, char *message, size_t message_capacity);

/// kallima_jpeg_write with 3 components (row-major interleaved RGB).
int kallima_jpeg_write_rgb(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
                           int quality, char *message, size_t message_capacity);

/// Reads a whole file through zlib's gzread: gzip-compressed files are inflated, other files
/// are returned as they are. A truncated gzip stream is an error. On success *bytes is malloc'd
/// (free with kallima_free, never NULL, even for an empty file); returns 0, or 1 and fills `message`.
int kallima_gz_read_all(const char *path, uint8_t **bytes, size_t *length, char *message,
                        size_t message_capacity);

/// Writes `length` bytes as a gzip file (zlib's default compression level).
/// Returns 0, or 1 and fills `message`.
int kallima_gz_write_all(const char *path, const uint8_t *bytes, size_t length, char *message,
                         size_t message_capacity);

void kallima_free(void *pointer);

/// fork() by the raw system call, skipping the pthread_atfork handlers that glibc's fork()
/// runs: an OpenCL driver's handler (PoCL joins its worker threads) can deadlock a fork taken
/// while another thread is inside the driver. The child is a bare copy of the calling thread:
/// it may only make system calls and _exit. For crash tests (a writer killed mid-write).
int kallima_fork_without_handlers(void);

#endif
