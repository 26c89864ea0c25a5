// power_nvml.c: NVIDIA GPUs through NVML, loaded at run time with
// dlopen("libnvidia-ml.so.1") (CHIPBENCH_NVML_LIB overrides the name): NVML
// comes with the driver, so there is no link-time dependency and a machine
// without it only loses these sources.
//
// Per device: nvmlDeviceGetTotalEnergyConsumption (mJ since the driver
// loaded, Volta and newer; 64-bit) when it answers, else
// nvmlDeviceGetPowerUsage (mW) sampled and integrated. Devices are matched to
// OpenCL devices by PCI address (nvmlDeviceGetPciInfo_v3's busId,
// "00000000:17:00.0", normalized).
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "power_src.h"

// The minimal NVML ABI (nvml.h): nvmlReturn_t is an int, devices are
// opaque pointers, and nvmlPciInfo_t has this layout since the _v3 call.
typedef void *nvml_dev;
struct nvml_pci {
    char busIdLegacy[16];
    unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
};
enum { NVML_SUCCESS = 0, NVML_ERROR_NOT_SUPPORTED = 3 };

static struct {
    void *h;
    int refs;
    int (*init)(void);
    int (*shutdown)(void);
    int (*count)(unsigned *);
    int (*by_index)(unsigned, nvml_dev *);
    int (*pci)(nvml_dev, struct nvml_pci *);
    int (*energy)(nvml_dev, unsigned long long *);
    int (*power)(nvml_dev, unsigned *);
    int (*name)(nvml_dev, char *, unsigned);
    const char *(*err)(int);
} L;

struct nv {
    nvml_dev dev;
    unsigned long long base_mj;
};

static const char *nv_err(int r)
{
    const char *s = L.err ? L.err(r) : NULL;
    return s ? s : "NVML error";
}

static enum cb_status nv_energy(struct cb_power_src *s, double *v)
{
    struct nv *n = s->priv;
    unsigned long long mj;
    int r = L.energy(n->dev, &mj);
    if (r != NVML_SUCCESS)
        return cb_set_error(CB_ERR_BACKEND, "nvmlDeviceGetTotalEnergyConsumption: %s (%d)",
                            nv_err(r), r);
    *v = (double)(mj - n->base_mj) * 1e-3;
    return CB_OK;
}

static enum cb_status nv_power(struct cb_power_src *s, double *v)
{
    struct nv *n = s->priv;
    unsigned mw;
    int r = L.power(n->dev, &mw);
    if (r != NVML_SUCCESS)
        return cb_set_error(CB_ERR_BACKEND, "nvmlDeviceGetPowerUsage: %s (%d)", nv_err(r), r);
    *v = mw * 1e-3;
    return CB_OK;
}

static void lib_release(void)
{
    if (--L.refs > 0)
        return;
    if (L.shutdown)
        L.shutdown();
    if (L.h)
        dlclose(L.h);
    memset(&L, 0, sizeof L);
}

static void nv_close(struct cb_power_src *s)
{
    free(s->priv);
    s->priv = NULL;
    lib_release();
}

#define SYM(field, name) (*(void **)&L.field = dlsym(L.h, name))

static void add_device(struct cb_power_reg *reg, unsigned i)
{
    nvml_dev dev;
    struct nvml_pci pi;
    char bus[32], name[96] = "", tgt[48], where[192];
    int r = L.by_index(i, &dev);
    if (r == NVML_SUCCESS)
        r = L.pci(dev, &pi);
    if (r != NVML_SUCCESS || !cb_pci_bus_normalize(pi.busId, bus, sizeof bus)) {
        cb_power_reg_info(reg, "nvml", "card", "device", "NVML device", 0,
                          "device %u: no PCI bus id: %s", i, nv_err(r));
        return;
    }
    if (L.name)
        L.name(dev, name, sizeof name);
    snprintf(tgt, sizeof tgt, "device %s", bus);
    snprintf(where, sizeof where, "NVML device %u %s (%s)", i, name, bus);
    unsigned long long mj;
    unsigned mw;
    int re = L.energy ? L.energy(dev, &mj) : NVML_ERROR_NOT_SUPPORTED;
    int rp = re == NVML_SUCCESS ? NVML_SUCCESS : L.power ? L.power(dev, &mw) : -1;
    if (re != NVML_SUCCESS && rp != NVML_SUCCESS) {
        cb_power_reg_info(reg, "nvml", "card", tgt, where, 0,
                          "no energy counter (%s) and no power reading (%s)", nv_err(re),
                          rp < 0 ? "nvmlDeviceGetPowerUsage missing" : nv_err(rp));
        return;
    }
    struct nv *n = calloc(1, sizeof *n);
    struct cb_power_src *s = calloc(1, sizeof *s);
    if (!n || !s) {
        free(n);
        free(s);
        return;
    }
    n->dev = dev;
    n->base_mj = re == NVML_SUCCESS ? mj : 0;
    int energy = re == NVML_SUCCESS;
    snprintf(s->source, sizeof s->source, energy ? "nvml-energy" : "nvml-power");
    snprintf(s->scope, sizeof s->scope, "card");
    snprintf(s->where, sizeof s->where, "%s", where);
    snprintf(s->pci_bus, sizeof s->pci_bus, "%s", bus);
    s->target = CB_PF_DEVICE;
    s->kind = energy ? CB_PK_ENERGY : CB_PK_POWER;
    s->rank = energy ? 10 : 11;
    // Energy: updated about every 100 ms (ML.ENERGY); power: averaged over
    // 1 s on Ampere and newer (NVML docs) -- both in the note's 1.4.
    s->period_s = energy ? 0.1 : 1.0;
    s->read = energy ? nv_energy : nv_power;
    s->close = nv_close;
    s->priv = n;
    L.refs++;
    cb_power_reg_info(reg, s->source, "card", tgt, where, 1, "%s",
                      energy ? "total energy counter, mJ"
                             : "power only (energy counter not supported: integrated), mW");
    cb_power_reg_add(reg, s);
}

void cb_power_nvml_discover(struct cb_power_reg *reg)
{
    const char *lib = getenv("CHIPBENCH_NVML_LIB");
    if (!lib || !*lib)
        lib = "libnvidia-ml.so.1";
    if (L.h)
        return;
    L.h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!L.h) {
        const char *e = dlerror();
        cb_power_reg_info(reg, "nvml", "card", "device", lib, 0,
                          "%s not loadable (no NVIDIA driver): %s", lib, e ? e : "");
        return;
    }
    L.refs = 1;
    SYM(init, "nvmlInit_v2");
    SYM(shutdown, "nvmlShutdown");
    SYM(count, "nvmlDeviceGetCount_v2");
    SYM(by_index, "nvmlDeviceGetHandleByIndex_v2");
    SYM(pci, "nvmlDeviceGetPciInfo_v3");
    SYM(energy, "nvmlDeviceGetTotalEnergyConsumption");
    SYM(power, "nvmlDeviceGetPowerUsage");
    SYM(name, "nvmlDeviceGetName");
    SYM(err, "nvmlErrorString");
    unsigned n = 0;
    int r = -1;
    if (!L.init || !L.count || !L.by_index || !L.pci) {
        cb_power_reg_info(reg, "nvml", "card", "device", lib, 0,
                          "%s lacks nvmlInit_v2, nvmlDeviceGetCount_v2, "
                          "nvmlDeviceGetHandleByIndex_v2 or nvmlDeviceGetPciInfo_v3", lib);
        L.shutdown = NULL;
    } else if ((r = L.init()) != NVML_SUCCESS) {
        cb_power_reg_info(reg, "nvml", "card", "device", lib, 0, "nvmlInit_v2: %s (%d)",
                          nv_err(r), r);
        L.shutdown = NULL;
    } else if ((r = L.count(&n)) != NVML_SUCCESS || n == 0) {
        cb_power_reg_info(reg, "nvml", "card", "device", lib, 0, "no NVML devices%s%s",
                          r ? ": " : "", r ? nv_err(r) : "");
    }
    for (unsigned i = 0; r == NVML_SUCCESS && i < n; i++)
        add_device(reg, i);
    lib_release();  // the sources hold their own references
}
