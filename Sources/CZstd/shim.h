#ifndef NANOEDGE_CZSTD_SHIM_H
#define NANOEDGE_CZSTD_SHIM_H
#include <zstd.h>
#endif
