// chipbench.h: umbrella header.
#ifndef CHIPBENCH_H
#define CHIPBENCH_H
#include "cb_status.h"
#include "cb_util.h"
#include "cb_cpu.h"
#include "cb_topo.h"
#include "cb_kernel.h"
#include "cb_stats.h"
#include "cb_csv.h"
#include "cb_ocl.h"
#include "cb_bench.h"
#endif
