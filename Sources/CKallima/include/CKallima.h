// Thin C shim over the system libraries Kallima uses.
// Only KallimaOpenCL (OpenCL, CLBlast) and the image I/O code (libpng) import this module.
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

/// Reads any PNG as 8-bit RGB. On success *pixels is malloc'd (free with kallima_free).
int kallima_png_read_rgb(const char *path, uint8_t **pixels, uint32_t *width, uint32_t *height,
                         char *message, size_t message_capacity);

void kallima_free(void *pointer);

#endif
