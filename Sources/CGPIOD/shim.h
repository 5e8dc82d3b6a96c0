#ifndef NANOEDGE_CGPIOD_SHIM_H
#define NANOEDGE_CGPIOD_SHIM_H
#include <gpiod.h>
#endif
