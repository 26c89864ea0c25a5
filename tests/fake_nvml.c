// fake_nvml.c: a stand-in for libnvidia-ml.so.1, built by the test build into
// $(BUILD)/tests/libfake_nvml.so and loaded through CHIPBENCH_NVML_LIB. It
// implements the NVML entry points chipbench calls, scripted by environment:
//   FAKE_NVML_BUS        busId of the one device ("00000000:17:00.0")
//   FAKE_NVML_WATTS      constant power; the energy counter rises at this
//                        rate from nvmlInit_v2 on (monotonic clock)
//   FAKE_NVML_NO_ENERGY  1: the energy counter is NOT_SUPPORTED (pre-Volta)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct nvml_pci {
    char busIdLegacy[16];
    unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
};

static double t0;
static int dev_token;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double watts(void)
{
    const char *w = getenv("FAKE_NVML_WATTS");
    return w ? atof(w) : 0;
}

int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetCount_v2(unsigned *n);
int nvmlDeviceGetHandleByIndex_v2(unsigned i, void **dev);
int nvmlDeviceGetPciInfo_v3(void *dev, struct nvml_pci *pi);
int nvmlDeviceGetTotalEnergyConsumption(void *dev, unsigned long long *mj);
int nvmlDeviceGetPowerUsage(void *dev, unsigned *mw);
int nvmlDeviceGetName(void *dev, char *name, unsigned len);
const char *nvmlErrorString(int r);

int nvmlInit_v2(void)
{
    t0 = now();
    return 0;
}

int nvmlShutdown(void)
{
    return 0;
}

int nvmlDeviceGetCount_v2(unsigned *n)
{
    *n = 1;
    return 0;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned i, void **dev)
{
    if (i != 0)
        return 2;  // NVML_ERROR_INVALID_ARGUMENT
    *dev = &dev_token;
    return 0;
}

int nvmlDeviceGetPciInfo_v3(void *dev, struct nvml_pci *pi)
{
    const char *b = getenv("FAKE_NVML_BUS");
    memset(pi, 0, sizeof *pi);
    snprintf(pi->busId, sizeof pi->busId, "%s", b ? b : "00000000:17:00.0");
    return dev == &dev_token ? 0 : 2;
}

int nvmlDeviceGetTotalEnergyConsumption(void *dev, unsigned long long *mj)
{
    const char *no = getenv("FAKE_NVML_NO_ENERGY");
    if (no && !strcmp(no, "1"))
        return 3;  // NVML_ERROR_NOT_SUPPORTED
    *mj = (unsigned long long)((now() - t0) * watts() * 1e3);
    return dev == &dev_token ? 0 : 2;
}

int nvmlDeviceGetPowerUsage(void *dev, unsigned *mw)
{
    *mw = (unsigned)(watts() * 1e3);
    return dev == &dev_token ? 0 : 2;
}

int nvmlDeviceGetName(void *dev, char *name, unsigned len)
{
    snprintf(name, len, "Fake GPU");
    return 0;
}

const char *nvmlErrorString(int r)
{
    return r == 3 ? "Not Supported" : r ? "Error" : "Success";
}
