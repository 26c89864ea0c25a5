// topo.c: machine topology and pinning to physical cores (cb_topo.h).
//
// With hwloc (CB_HAVE_HWLOC): one topology, loaded once and kept for the
// process, answers counts and cache sizes and does the binding. Without it:
// sysconf for PU counts and /sys/devices/system/cpu for cores, packages and
// caches, sched_setaffinity for binding (Linux only; elsewhere binding is
// CB_ERR_UNSUPPORTED).
//
// Not a scheduler: it never decides how many threads to use, it only pins.
// "Core" always means a physical core; SMT siblings are PUs of one core.
// CPU_SET_S/CPU_ALLOC and sched_setaffinity are GNU extensions.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chipbench/cb_topo.h"
#include "chipbench/cb_util.h"

#if defined(CB_HAVE_HWLOC)
#include <hwloc.h>
#endif

static struct cb_topo g_topo;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

int64_t cb_topo_llc_bytes(void)
{
    const struct cb_topo *t = cb_topo_get();
    return t->l3_bytes ? t->l3_bytes : t->l2_bytes;
}

#if defined(CB_HAVE_HWLOC)

// Kept for the process lifetime so binding calls need no reload; destroyed
// at exit so LeakSanitizer sees no leak. Read-only use of a loaded topology
// is thread-safe in hwloc.
static hwloc_topology_t g_hw;

static void hw_destroy(void)
{
    if (g_hw) {
        hwloc_topology_t t = g_hw;
        g_hw = NULL;
        hwloc_topology_destroy(t);
    }
}

static int hw_count(hwloc_obj_type_t type)
{
    int n = hwloc_get_nbobjs_by_type(g_hw, type);
    return n > 0 ? n : 0;  // -1 means "multiple depths": treat as unknown
}

// Size of the first data/unified cache of this type (L1 has an i-cache twin).
static int64_t hw_cache(hwloc_obj_type_t type, int *count)
{
    int n = hw_count(type);
    int64_t size = 0, instances = 0;
    for (int i = 0; i < n; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(g_hw, type, (unsigned)i);
        if (!o || !o->attr || o->attr->cache.type == HWLOC_OBJ_CACHE_INSTRUCTION)
            continue;
        if (!size)
            size = (int64_t)o->attr->cache.size;
        instances++;
    }
    if (count)
        *count = (int)instances;
    return size;
}

static void topo_load(void)
{
    struct cb_topo *t = &g_topo;
    if (hwloc_topology_init(&g_hw) != 0) {
        g_hw = NULL;
        goto out;
    }
    if (hwloc_topology_load(g_hw) != 0) {
        hwloc_topology_destroy(g_hw);
        g_hw = NULL;
        goto out;
    }
    atexit(hw_destroy);
    t->packages = hw_count(HWLOC_OBJ_PACKAGE);
    t->numa_nodes = hw_count(HWLOC_OBJ_NUMANODE);
    t->cores = hw_count(HWLOC_OBJ_CORE);
    t->pus = hw_count(HWLOC_OBJ_PU);
    t->l1d_bytes = hw_cache(HWLOC_OBJ_L1CACHE, NULL);
    t->l2_bytes = hw_cache(HWLOC_OBJ_L2CACHE, &t->l2_count);
    t->l3_bytes = hw_cache(HWLOC_OBJ_L3CACHE, &t->l3_count);
    hwloc_obj_t root = hwloc_get_root_obj(g_hw);
    if (root)
        t->mem_bytes = (int64_t)root->total_memory;
    // hwloc sums per-NUMA-node memory; on some VMs (hot-plugged memory) the
    // node files miss part of what the kernel's MemTotal counts. Report the
    // larger, so hwloc and sysfs builds agree on the same machine.
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0 && (int64_t)pages * psz > t->mem_bytes)
        t->mem_bytes = (int64_t)pages * psz;
    cb_strlcpy(t->source, "hwloc", sizeof t->source);
out:
    // Keep the "never fails" promise even if hwloc could not load.
    if (t->pus <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        t->pus = n > 0 ? (int)n : 1;
    }
    if (t->cores <= 0)
        t->cores = t->pus;
    if (!t->source[0])
        cb_strlcpy(t->source, "sysconf", sizeof t->source);
}

const struct cb_topo *cb_topo_get(void)
{
    pthread_once(&g_once, topo_load);
    return &g_topo;
}

static enum cb_status hw_ready(void)
{
    cb_topo_get();
    if (!g_hw)
        return cb_set_error(CB_ERR_UNSUPPORTED,
                            "hwloc topology could not be loaded; cannot bind");
    return CB_OK;
}

enum cb_status cb_topo_bind_process(int n)
{
    enum cb_status s = CB_OK;
    hwloc_bitmap_t set = NULL;
    CB_TRY(hw_ready());
    int cores = hw_count(HWLOC_OBJ_CORE);
    if (cores <= 0) {
        s = cb_set_error(CB_ERR_UNSUPPORTED, "hwloc reports no cores");
        goto out;
    }
    n = n < 1 ? 1 : n > cores ? cores : n;
    set = hwloc_bitmap_alloc();
    if (!set) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "hwloc_bitmap_alloc failed");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        hwloc_obj_t c = hwloc_get_obj_by_type(g_hw, HWLOC_OBJ_CORE, (unsigned)i);
        if (c && c->cpuset)
            hwloc_bitmap_or(set, set, c->cpuset);
    }
    // PROCESS binds every existing thread; threads created later inherit it.
    if (hwloc_set_cpubind(g_hw, set, HWLOC_CPUBIND_PROCESS) != 0)
        s = cb_set_error(errno == ENOSYS || errno == EXDEV ? CB_ERR_UNSUPPORTED
                                                           : CB_ERR_BACKEND,
                         "hwloc_set_cpubind(process, %d cores): %s", n,
                         strerror(errno));
out:
    if (set)
        hwloc_bitmap_free(set);
    return s;
}

enum cb_status cb_topo_bind_thread(int idx)
{
    enum cb_status s = CB_OK;
    hwloc_bitmap_t set = NULL;
    CB_TRY(hw_ready());
    int cores = hw_count(HWLOC_OBJ_CORE);
    if (cores <= 0) {
        s = cb_set_error(CB_ERR_UNSUPPORTED, "hwloc reports no cores");
        goto out;
    }
    int ci = idx < 0 ? (int)((unsigned)idx % (unsigned)cores) : idx % cores;
    hwloc_obj_t c = hwloc_get_obj_by_type(g_hw, HWLOC_OBJ_CORE, (unsigned)ci);
    if (!c || !c->cpuset) {
        s = cb_set_error(CB_ERR_BACKEND, "hwloc core %d has no cpuset", ci);
        goto out;
    }
    set = hwloc_bitmap_dup(c->cpuset);
    if (!set) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "hwloc_bitmap_dup failed");
        goto out;
    }
    // One PU, so the OS cannot migrate the thread between SMT siblings.
    hwloc_bitmap_singlify(set);
    if (hwloc_set_cpubind(g_hw, set, HWLOC_CPUBIND_THREAD) != 0)
        s = cb_set_error(errno == ENOSYS || errno == EXDEV ? CB_ERR_UNSUPPORTED
                                                           : CB_ERR_BACKEND,
                         "hwloc_set_cpubind(thread, core %d): %s", ci,
                         strerror(errno));
out:
    if (set)
        hwloc_bitmap_free(set);
    return s;
}

enum cb_status cb_topo_unbind_process(void)
{
    enum cb_status s = CB_OK;
    CB_TRY(hw_ready());
    // The allowed set, not the complete one: PUs a cgroup forbids would only
    // make the call fail.
    hwloc_const_bitmap_t all = hwloc_topology_get_allowed_cpuset(g_hw);
    if (hwloc_set_cpubind(g_hw, all, HWLOC_CPUBIND_PROCESS) != 0)
        s = cb_set_error(CB_ERR_BACKEND, "hwloc_set_cpubind(process, all): %s",
                         strerror(errno));
out:
    return s;
}

#else  // !CB_HAVE_HWLOC: sysfs + sched_setaffinity

// One physical core: the online PUs that share it, ascending.
struct sys_core {
    char key[128];  // thread_siblings_list (or "pkg:core_id") identifying it
    int first_pu;
};

static struct sys_core *g_cores;  // g_topo.cores entries, in first-PU order
static int g_max_cpu;             // highest online CPU id + 1

// Read a small sysfs file into buf without the trailing newline; 0 on success.
static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    int rc = -1;
    if (!f)
        goto out;
    if (fgets(buf, (int)len, f)) {
        buf[strcspn(buf, "\n")] = 0;
        rc = 0;
    }
out:
    if (f)
        fclose(f);
    return rc;
}

// "32K" / "1024K" / "32M" -> bytes; 0 if unparsable.
static int64_t parse_size(const char *s)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0)
        return 0;
    switch (*end) {
    case 'K': case 'k': return (int64_t)v << 10;
    case 'M': case 'm': return (int64_t)v << 20;
    case 'G': case 'g': return (int64_t)v << 30;
    default: return v;
    }
}

// Is cpu online? cpu0 often has no "online" file; a missing file means yes.
static int cpu_online(int cpu)
{
    char path[96], v[8];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/online", cpu);
    if (read_line(path, v, sizeof v) != 0)
        return 1;
    return v[0] == '1';
}

static int cpu_exists(int cpu)
{
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology", cpu);
    return access(path, F_OK) == 0;
}

// Sizes and instance counts of caches at `level` (1 counts only Data).
// Instances are the distinct shared_cpu_list values across online CPUs.
static int64_t sys_cache(int level, int *count)
{
    int64_t size = 0;
    int n_inst = 0, cap = 0;
    char (*seen)[128] = NULL;
    for (int cpu = 0; cpu < g_max_cpu; cpu++) {
        if (!cpu_exists(cpu) || !cpu_online(cpu))
            continue;
        for (int idx = 0; idx < 16; idx++) {
            char path[128], v[128];
            snprintf(path, sizeof path,
                     "/sys/devices/system/cpu/cpu%d/cache/index%d/level", cpu, idx);
            if (read_line(path, v, sizeof v) != 0)
                break;
            if (atoi(v) != level)
                continue;
            snprintf(path, sizeof path,
                     "/sys/devices/system/cpu/cpu%d/cache/index%d/type", cpu, idx);
            if (read_line(path, v, sizeof v) == 0 && strcmp(v, "Instruction") == 0)
                continue;
            if (!size) {
                snprintf(path, sizeof path,
                         "/sys/devices/system/cpu/cpu%d/cache/index%d/size", cpu, idx);
                if (read_line(path, v, sizeof v) == 0)
                    size = parse_size(v);
            }
            snprintf(path, sizeof path,
                     "/sys/devices/system/cpu/cpu%d/cache/index%d/shared_cpu_list",
                     cpu, idx);
            if (read_line(path, v, sizeof v) != 0)
                snprintf(v, sizeof v, "cpu%d", cpu);
            int dup = 0;
            for (int i = 0; i < n_inst && !dup; i++)
                dup = strcmp(seen[i], v) == 0;
            if (!dup) {
                if (n_inst == cap) {
                    int ncap = cap ? 2 * cap : 16;
                    void *p = realloc(seen, (size_t)ncap * sizeof *seen);
                    if (!p)
                        goto out;
                    seen = p;
                    cap = ncap;
                }
                cb_strlcpy(seen[n_inst++], v, sizeof seen[0]);
            }
            break;  // one cache per level per CPU
        }
    }
out:
    free(seen);
    if (count)
        *count = size ? n_inst : 0;
    return size;
}

static void topo_load(void)
{
    struct cb_topo *t = &g_topo;
    long onln = sysconf(_SC_NPROCESSORS_ONLN), conf = sysconf(_SC_NPROCESSORS_CONF);
    // CPU ids can be sparse (offlined CPUs), so scan up to the highest
    // possible id ("0-255" -> 256), not just the online count.
    char v0[64];
    g_max_cpu = (int)(conf > onln ? conf : onln);
    if (read_line("/sys/devices/system/cpu/possible", v0, sizeof v0) == 0) {
        const char *last = strrchr(v0, '-');
        const char *comma = strrchr(v0, ',');
        if (!last || (comma && comma > last))
            last = comma;
        int hi = atoi(last ? last + 1 : v0) + 1;
        if (hi > g_max_cpu && hi <= 65536)
            g_max_cpu = hi;
    }
    if (g_max_cpu < 1)
        g_max_cpu = 1;
    t->pus = onln > 0 ? (int)onln : 1;

    int ncores = 0, npkgs = 0;
    int pkgs[256];
    g_cores = calloc((size_t)g_max_cpu, sizeof *g_cores);
    for (int cpu = 0; g_cores && cpu < g_max_cpu; cpu++) {
        if (!cpu_exists(cpu) || !cpu_online(cpu))
            continue;
        char path[128], key[128], v[32];
        snprintf(path, sizeof path,
                 "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        int pkg = read_line(path, v, sizeof v) == 0 ? atoi(v) : 0;
        snprintf(path, sizeof path,
                 "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", cpu);
        if (read_line(path, key, sizeof key) != 0) {
            snprintf(path, sizeof path,
                     "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
            snprintf(key, sizeof key, "%d:%s", pkg,
                     read_line(path, v, sizeof v) == 0 ? v : "?");
        }
        int known = 0;
        for (int i = 0; i < ncores && !known; i++)
            known = strcmp(g_cores[i].key, key) == 0;
        if (!known) {
            cb_strlcpy(g_cores[ncores].key, key, sizeof g_cores[ncores].key);
            g_cores[ncores].first_pu = cpu;
            ncores++;
        }
        known = 0;
        for (int i = 0; i < npkgs && !known; i++)
            known = pkgs[i] == pkg;
        if (!known && npkgs < (int)(sizeof pkgs / sizeof pkgs[0]))
            pkgs[npkgs++] = pkg;
    }
    t->cores = ncores > 0 ? ncores : t->pus;
    t->packages = npkgs > 0 ? npkgs : 1;

    int nodes = 0;
    DIR *d = opendir("/sys/devices/system/node");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strncmp(e->d_name, "node", 4) == 0 && e->d_name[4] >= '0' &&
                e->d_name[4] <= '9')
                nodes++;
        closedir(d);
    }
    t->numa_nodes = nodes > 0 ? nodes : 1;

    t->l1d_bytes = sys_cache(1, NULL);
    t->l2_bytes = sys_cache(2, &t->l2_count);
    t->l3_bytes = sys_cache(3, &t->l3_count);
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    t->mem_bytes = pages > 0 && psz > 0 ? (int64_t)pages * psz : 0;
    cb_strlcpy(t->source, "sysfs", sizeof t->source);
}

const struct cb_topo *cb_topo_get(void)
{
    pthread_once(&g_once, topo_load);
    return &g_topo;
}

#if defined(__linux__)
// PUs of core i: the CPUs whose sibling key matches.
static void add_core_pus(cpu_set_t *set, size_t sz, int i)
{
    char path[128], key[128], v[32];
    for (int cpu = 0; cpu < g_max_cpu; cpu++) {
        if (!cpu_exists(cpu) || !cpu_online(cpu))
            continue;
        snprintf(path, sizeof path,
                 "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", cpu);
        if (read_line(path, key, sizeof key) != 0) {
            snprintf(path, sizeof path,
                     "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
            int pkg = read_line(path, v, sizeof v) == 0 ? atoi(v) : 0;
            snprintf(path, sizeof path,
                     "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
            snprintf(key, sizeof key, "%d:%s", pkg,
                     read_line(path, v, sizeof v) == 0 ? v : "?");
        }
        if (strcmp(key, g_cores[i].key) == 0)
            CPU_SET_S((size_t)cpu, sz, set);
    }
}

// sched_setaffinity binds one thread; to bind the process, set every thread
// listed in /proc/self/task (hwloc's HWLOC_CPUBIND_PROCESS does the same).
static enum cb_status set_process_affinity(cpu_set_t *set, size_t sz)
{
    enum cb_status s = CB_OK;
    DIR *d = opendir("/proc/self/task");
    if (!d) {
        if (sched_setaffinity(0, sz, set) != 0)
            s = cb_set_error(CB_ERR_BACKEND, "sched_setaffinity: %s", strerror(errno));
        goto out;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        // A thread may exit between readdir and the call: ESRCH is harmless.
        if (sched_setaffinity(tid, sz, set) != 0 && errno != ESRCH) {
            s = cb_set_error(CB_ERR_BACKEND, "sched_setaffinity(tid %d): %s",
                             (int)tid, strerror(errno));
            goto out;
        }
    }
out:
    if (d)
        closedir(d);
    return s;
}

static enum cb_status sys_ready(void)
{
    const struct cb_topo *t = cb_topo_get();
    if (!g_cores || t->cores <= 0 || !g_cores[0].key[0])
        return cb_set_error(CB_ERR_UNSUPPORTED,
                            "CPU topology unreadable from /sys; cannot bind");
    return CB_OK;
}

enum cb_status cb_topo_bind_process(int n)
{
    enum cb_status s = CB_OK;
    cpu_set_t *set = NULL;
    size_t sz = 0;
    CB_TRY(sys_ready());
    sz = CPU_ALLOC_SIZE(g_max_cpu);
    int cores = g_topo.cores;
    n = n < 1 ? 1 : n > cores ? cores : n;
    set = CPU_ALLOC(g_max_cpu);
    if (!set) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "CPU_ALLOC(%d) failed", g_max_cpu);
        goto out;
    }
    CPU_ZERO_S(sz, set);
    for (int i = 0; i < n; i++)
        add_core_pus(set, sz, i);
    s = set_process_affinity(set, sz);
out:
    if (set)
        CPU_FREE(set);
    return s;
}

enum cb_status cb_topo_bind_thread(int idx)
{
    enum cb_status s = CB_OK;
    cpu_set_t *set = NULL;
    size_t sz = 0;
    CB_TRY(sys_ready());
    sz = CPU_ALLOC_SIZE(g_max_cpu);
    int cores = g_topo.cores;
    int ci = idx < 0 ? (int)((unsigned)idx % (unsigned)cores) : idx % cores;
    set = CPU_ALLOC(g_max_cpu);
    if (!set) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "CPU_ALLOC(%d) failed", g_max_cpu);
        goto out;
    }
    CPU_ZERO_S(sz, set);
    // One PU, so the OS cannot migrate the thread between SMT siblings.
    CPU_SET_S((size_t)g_cores[ci].first_pu, sz, set);
    if (sched_setaffinity(0, sz, set) != 0)
        s = cb_set_error(CB_ERR_BACKEND, "sched_setaffinity(core %d): %s", ci,
                         strerror(errno));
out:
    if (set)
        CPU_FREE(set);
    return s;
}

enum cb_status cb_topo_unbind_process(void)
{
    enum cb_status s = CB_OK;
    cpu_set_t *set = NULL;
    size_t sz = 0;
    CB_TRY(sys_ready());
    sz = CPU_ALLOC_SIZE(g_max_cpu);
    set = CPU_ALLOC(g_max_cpu);
    if (!set) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "CPU_ALLOC(%d) failed", g_max_cpu);
        goto out;
    }
    CPU_ZERO_S(sz, set);
    for (int cpu = 0; cpu < g_max_cpu; cpu++)
        if (cpu_exists(cpu) && cpu_online(cpu))
            CPU_SET_S((size_t)cpu, sz, set);
    s = set_process_affinity(set, sz);
out:
    if (set)
        CPU_FREE(set);
    return s;
}

#else  // !__linux__

enum cb_status cb_topo_bind_process(int n)
{
    return cb_set_error(CB_ERR_UNSUPPORTED,
                        "thread binding needs hwloc on this OS (built without it)");
}

enum cb_status cb_topo_bind_thread(int idx)
{
    return cb_set_error(CB_ERR_UNSUPPORTED,
                        "thread binding needs hwloc on this OS (built without it)");
}

enum cb_status cb_topo_unbind_process(void)
{
    return cb_set_error(CB_ERR_UNSUPPORTED,
                        "thread binding needs hwloc on this OS (built without it)");
}

#endif  // __linux__
#endif  // CB_HAVE_HWLOC
