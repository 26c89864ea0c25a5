// power_hwmon.c: hwmon sensors (/sys/class/hwmon/hwmonN):
//   amdgpu      energy1_input (µJ) where present, else power1_input
//               (instantaneous µW), else power1_average (µW); card scope;
//   xe / i915   energy1_input (µJ; the driver keeps a 64-bit accumulator);
//   ina*        power1_input (µW) of a board rail (ARM boards): used for CPU
//               rows only when it is the board's only INA rail, since which
//               rail feeds the CPU is board-specific.
// A GPU's hwmon is matched to an OpenCL device through the PCI address its
// `device` link points at.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chipbench/cb_util.h"
#include "power_src.h"

struct hw {
    int fd;
    double scale;   // file units -> J or W
    double base;    // energy files: first reading
};

static enum cb_status hw_read(struct cb_power_src *s, double *v)
{
    struct hw *h = s->priv;
    uint64_t x;
    int e = cb_sysfs_pread_u64(h->fd, &x);
    if (e)
        return cb_set_error(CB_ERR_IO, "reading %s: %s", s->where, strerror(e));
    *v = (double)x * h->scale - h->base;
    return CB_OK;
}

static void hw_close(struct cb_power_src *s)
{
    struct hw *h = s->priv;
    if (h)
        close(h->fd);
    free(h);
    s->priv = NULL;
}

// The PCI address the hwmon's device link points at, normalized; 0 if none.
static int hwmon_bus(const char *hdir, char *bus, size_t len)
{
    char link[1100], target[1024];
    if (snprintf(link, sizeof link, "%s/device", hdir) >= (int)sizeof link)
        return 0;
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = 0;
    return cb_pci_bus_normalize(basename(target), bus, len);
}

// Try one attribute file; on success adds the source and returns 1.
static int try_file(struct cb_power_reg *reg, const char *hdir, const char *file,
                    const char *source, const char *scope, enum cb_power_for target,
                    const char *bus, int energy, int rank)
{
    char path[1200], buf[64], tgt[48];
    snprintf(path, sizeof path, "%s/%s", hdir, file);
    snprintf(tgt, sizeof tgt, "%s%s", target == CB_PF_CPU ? "cpu" : "device ", bus);
    int e = cb_sysfs_read(path, buf, sizeof buf);
    if (e == ENOENT)
        return 0;
    if (e) {
        cb_power_reg_info(reg, source, scope, tgt, path, 0, "%s", cb_power_errno_hint(e));
        return 0;
    }
    struct hw *h = calloc(1, sizeof *h);
    struct cb_power_src *s = calloc(1, sizeof *s);
    uint64_t x;
    if (!h || !s)
        goto fail;
    h->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (h->fd < 0 || cb_sysfs_pread_u64(h->fd, &x)) {
        cb_power_reg_info(reg, source, scope, tgt, path, 0, "not a number: '%s'", buf);
        goto fail;
    }
    h->scale = 1e-6;  // µJ and µW (hwmon sysfs ABI)
    h->base = energy ? (double)x * h->scale : 0;
    snprintf(s->source, sizeof s->source, "%s", source);
    snprintf(s->scope, sizeof s->scope, "%s", scope);
    cb_strlcpy(s->where, path, sizeof s->where);
    snprintf(s->pci_bus, sizeof s->pci_bus, "%s", bus);
    s->target = target;
    s->kind = energy ? CB_PK_ENERGY : CB_PK_POWER;
    s->rank = rank;
    // Update period undocumented (the note's 1.5): probed at first use;
    // until then the 2 s floor applies.
    s->period_s = 0;
    s->read = hw_read;
    s->close = hw_close;
    s->priv = h;
    cb_power_reg_info(reg, source, scope, tgt, path, 1, "%s", energy ? "energy, µJ" : "power, µW");
    cb_power_reg_add(reg, s);
    return 1;
fail:
    if (h && h->fd > 0)
        close(h->fd);
    free(h);
    free(s);
    return 0;
}

void cb_power_hwmon_discover(struct cb_power_reg *reg)
{
    char dir[1024];
    cb_sysfs_path(dir, sizeof dir, "/sys/class/hwmon");
    DIR *d = opendir(dir);
    int ina = 0;
    char ina_dir[1300] = "";
    if (!d)
        return;  // no hwmon at all: nothing to list
    for (struct dirent *de; (de = readdir(d));) {
        char hdir[1300], path[1400], name[64], bus[32] = "";
        if (strncmp(de->d_name, "hwmon", 5))
            continue;
        snprintf(hdir, sizeof hdir, "%s/%s", dir, de->d_name);
        snprintf(path, sizeof path, "%s/name", hdir);
        if (cb_sysfs_read(path, name, sizeof name))
            continue;
        int gpu = !strcmp(name, "amdgpu") || !strcmp(name, "xe") || !strcmp(name, "i915");
        if (gpu && !hwmon_bus(hdir, bus, sizeof bus)) {
            cb_power_reg_info(reg, name, "card", "device", hdir, 0,
                              "no PCI device link, cannot be matched to a device");
            continue;
        }
        if (!strcmp(name, "amdgpu")) {
            // amdgpu's power1_* cover the SoC (on APUs the CPU too).
            if (!try_file(reg, hdir, "energy1_input", "amdgpu-hwmon", "card", CB_PF_DEVICE, bus,
                          1, 30) &&
                !try_file(reg, hdir, "power1_input", "amdgpu-hwmon", "card", CB_PF_DEVICE, bus,
                          0, 31))
                try_file(reg, hdir, "power1_average", "amdgpu-hwmon", "card", CB_PF_DEVICE, bus,
                         0, 32);
        } else if (gpu) {
            char src[32];
            cb_strlcpy(src, name, sizeof src - 8);
            strcat(src, "-hwmon");
            try_file(reg, hdir, "energy1_input", src, "card", CB_PF_DEVICE, bus, 1, 30);
        } else if (!strncmp(name, "ina", 3)) {
            snprintf(path, sizeof path, "%s/power1_input", hdir);
            if (access(path, F_OK) == 0) {
                ina++;
                snprintf(ina_dir, sizeof ina_dir, "%s", hdir);
            }
        }
    }
    closedir(d);
    if (ina == 1)
        try_file(reg, ina_dir, "power1_input", "ina-hwmon", "board", CB_PF_CPU, "", 0, 40);
    else if (ina > 1)
        cb_power_reg_info(reg, "ina-hwmon", "board", "cpu", dir, 0,
                          "%d INA rails: which one feeds the CPU is board-specific, none used",
                          ina);
}
