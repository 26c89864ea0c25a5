// cb_topo.h: machine topology (hwloc when built with it, sysfs/sysconf
// otherwise) and thread pinning to physical cores.
#ifndef CHIPBENCH_CB_TOPO_H
#define CHIPBENCH_CB_TOPO_H

#include <stdint.h>
#include "cb_status.h"

struct cb_topo {
    int packages, numa_nodes, cores, pus;  // cores = physical cores
    int64_t l1d_bytes, l2_bytes, l3_bytes; // per instance; 0 if unknown
    int l2_count, l3_count;                // number of instances
    int64_t mem_bytes;                     // total RAM, 0 if unknown
    char source[16];                       // "hwloc" or "sysfs"
};

// Discover once (cached, thread-safe). Never fails: unknown fields are 0 and
// cores/pus fall back to sysconf.
const struct cb_topo *cb_topo_get(void);

// Largest last-level cache in bytes (l3, else l2), 0 if unknown.
int64_t cb_topo_llc_bytes(void);

// Restrict the whole process (and threads it creates later, e.g. OpenBLAS's
// pool) to the first n physical cores. n is clamped to [1, cores].
// CB_ERR_UNSUPPORTED if binding is impossible here (message says why).
enum cb_status cb_topo_bind_process(int n);
// Pin the calling thread to physical core `idx % cores` (one PU of it).
enum cb_status cb_topo_bind_thread(int idx);
// Undo cb_topo_bind_process: allow every PU again.
enum cb_status cb_topo_unbind_process(void);

#endif
