#ifndef NANOEDGE_CZLIB_SHIM_H
#define NANOEDGE_CZLIB_SHIM_H
#include <zlib.h>

// inflateInit2 is a macro; Swift cannot call it.
static inline int nanoedge_inflate_init2(z_stream *stream, int window_bits) {
    return inflateInit2(stream, window_bits);
}
#endif
