// test_cublas.c: the cuBLAS baseline's host side (kernels/cuda/gemm_cublas.c)
// against the fake CUDA runtime and cuBLAS beside this binary
// (tests/fake_cuda.c): the loader, the row-major to column-major operand
// swap on every transpose, leading dimensions and alpha/beta (float64 check
// through the harness's own path), bf16 storage, the device column, chip
// class and PCI address, device time, device selection and an out-of-memory
// plan. The no-library path needs a fresh process: tests/test_cli.sh.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_test.h"
#include "check_kernel.h"
#include "chipbench/cb_bench.h"
#include "chipbench/cb_shape.h"

static int use_fake(void)
{
    char lib[600];
    if (!cb_t_beside_exe("libfake_cuda.so", lib, sizeof lib))
        return 0;
    setenv("CHIPBENCH_CUDART_LIB", lib, 1);
    setenv("CHIPBENCH_CUBLAS_LIB", lib, 1);
    return 1;
}

static const char *const shapes[] = {
    "1x1x1", "7x13x5", "65x63x9:nt", "33x17x257:nt", "17x33x129:tn", "31x29x37:tt",
    "65x63x7,lda=80,ldb=70,ldc=99", "63x7x65:tn,lda=64,ldb=9,ldc=8",
    "45x46x47,alpha=-0.75,beta=0.5", "45x46x47:nt,alpha=2,beta=-1.5,ldc=50", "1x200x64:tn",
    NULL,
};

static void test_fake_gemms(void)
{
    const char *names[] = {"gemm_f32_cublas", "gemm_tf32_cublas", "gemm_bf16_cublas"};
    uint64_t seed = 11;
    for (int i = 0; i < 3; i++) {
        const struct cb_kernel *k = cb_registry_find(names[i]);
        CB_CHECK(k != NULL);
        CB_CHECK_MSG(cb_kernel_usable(k) == CB_OK, "%s: %s", names[i], cb_error_text());
        for (int j = 0; shapes[j]; j++) {
            double err = NAN, tol = NAN;
            enum cb_status s = check_kernel(k, shapes[j], 1, seed++, &err, &tol);
            CB_CHECK_MSG(s == CB_OK, "%s %s: %s", names[i], shapes[j], cb_error_text());
            CB_CHECK_MSG(err <= tol, "%s %s: err %g > tol %g", names[i], shapes[j], err, tol);
        }
    }
}

// A full harness row: the columns a comparison with the OpenCL rows needs.
static void test_row_columns(void)
{
    const struct cb_kernel *k = cb_registry_find("gemm_f32_cublas");
    struct cb_bench_opts o;
    struct cb_call c;
    struct cb_result r;
    check_quick_opts(&o);
    CB_CHECK(cb_shape_parse("64x48x32", &c) == CB_OK);
    CB_CHECK(cb_bench_row(k, &c, 1, &o, &r) == CB_OK);
    CB_CHECK_MSG(strstr(r.device, "cuda:0 Fake GPU 9000 [cuBLAS 12.4.3") == r.device, "%s",
                 r.device);
    CB_CHECK_STR(r.chip_class, "opencl:gpu:NVIDIA_Corporation:Fake_GPU_9000");
    CB_CHECK(r.kernel == k && !isnan(r.device_time_ns) && r.device_time_ns > 0);
    CB_CHECK_STR(r.pci_bus, "0000:0a:00.0");
    cb_result_free(&r);

    // --device: by index, by name, and refusals with the reason.
    o.device = "cuda:1";
    setenv("FAKE_CUDA_DEVICES", "2", 1);
    CB_CHECK(cb_bench_row(k, &c, 1, &o, &r) == CB_OK);
    CB_CHECK_MSG(strstr(r.device, "cuda:1 Fake GPU 9001") == r.device, "%s", r.device);
    cb_result_free(&r);
    o.device = "9001";
    CB_CHECK(cb_bench_row(k, &c, 1, &o, &r) == CB_OK);
    CB_CHECK_MSG(strstr(r.device, "cuda:1 ") == r.device, "%s", r.device);
    cb_result_free(&r);
    o.device = "cuda:7";
    CB_CHECK(cb_bench_row(k, &c, 1, &o, &r) != CB_OK);
    CB_CHECK_MSG(strstr(r.note, "2 CUDA device(s)") != NULL, "%.300s", r.note);
    cb_result_free(&r);
    o.device = "opencl:0:0";
    CB_CHECK(cb_bench_row(k, &c, 1, &o, &r) != CB_OK);
    CB_CHECK_MSG(strstr(r.note, "no CUDA device matches") != NULL, "%.300s", r.note);
    cb_result_free(&r);
    unsetenv("FAKE_CUDA_DEVICES");
    o.device = NULL;

    // Out of device memory: a clear skipped row naming the allocation.
    setenv("FAKE_CUDA_OOM", "1", 1);
    CB_CHECK(cb_bench_row(k, &c, 1, &o, &r) != CB_OK);
    CB_CHECK_MSG(strstr(r.note, "cudaMalloc") && strstr(r.note, "out of memory"), "%.300s",
                 r.note);
    cb_result_free(&r);
    unsetenv("FAKE_CUDA_OOM");
    cb_clear_error();
}

// Device time from the events around each call, and the PCI address in the
// OpenCL form (4-digit domain, lower case) that NVML sources are matched by.
static void test_device_time_and_pci(void)
{
    const struct cb_kernel *k = cb_registry_find("gemm_bf16_cublas");
    struct cb_call shape, c;
    void *data = NULL, *plan = NULL;
    struct cb_rng rng;
    CB_CHECK(cb_shape_parse("96x96x96", &shape) == CB_OK);
    const struct cb_bench *b = cb_bench_for(CB_OP_GEMM);
    cb_rng_seed(&rng, 5);
    CB_CHECK(b->setup(&shape, k->dtype, 1, &rng, &data) == CB_OK);
    c = *b->call(data, 0);
    struct cb_plan_req req = {.shape = &c, .threads = 1};
    CB_CHECK(k->plan(k, &req, &plan) == CB_OK);
    CB_CHECK(k->device_time_ns(plan) < 0);  // no call yet
    for (int i = 0; i < 3; i++) {
        CB_CHECK(k->run(plan, &c) == CB_OK);
        CB_CHECK(k->finish(plan) == CB_OK);
    }
    CB_CHECK(k->device_time_ns(plan) > 0);
    char bus[64];
    k->pci_bus(plan, bus, sizeof bus);
    CB_CHECK_STR(bus, "0000:0a:00.0");
    k->plan_free(plan);
    b->teardown(data);
}

// A cuBLAS row's energy comes from its card's counter (NVML, matched by the
// PCI address the row reports), not from the CPU packages: the fake NVML
// device sits at the fake CUDA device's bus.
static void test_row_energy(void)
{
    const struct cb_kernel *k = cb_registry_find("gemm_f32_cublas");
    struct cb_bench_opts o;
    struct cb_call c;
    struct cb_result r;
    char lib[600];
    if (!cb_t_beside_exe("libfake_nvml.so", lib, sizeof lib))
        CB_SKIP("libfake_nvml.so not built beside the test");
    setenv("CHIPBENCH_NVML_LIB", lib, 1);
    setenv("FAKE_NVML_BUS", "00000000:0A:00.0", 1);
    setenv("FAKE_NVML_WATTS", "300", 1);
    cb_power_shutdown();
    check_quick_opts(&o);
    o.power.enabled = 1;
    o.power.interval_s = 0.005;
    o.power.min_window_s = 0.05;
    CB_CHECK(cb_shape_parse("64x48x32", &c) == CB_OK);
    CB_CHECK(cb_bench_row(k, &c, 1, &o, &r) == CB_OK);
    CB_CHECK_MSG(r.m.power.quality == CB_POWER_MEASURED, "%.300s", r.m.power.reason);
    CB_CHECK_STR(r.m.power.source, "nvml-energy");
    CB_CHECK_STR(r.m.power.scope, "card");
    CB_CHECK_NEAR(r.m.power.watts, 300, 15);
    cb_result_free(&r);
    unsetenv("FAKE_NVML_BUS");
    unsetenv("FAKE_NVML_WATTS");
    cb_power_shutdown();
}

int main(void)
{
    if (!use_fake()) {
        printf("SKIP test_cublas: libfake_cuda.so not built beside the test\n");
        cb_t_skip++;
        return CB_TEST_END("test_cublas");
    }
    CB_RUN(test_fake_gemms);
    CB_RUN(test_row_columns);
    CB_RUN(test_device_time_and_pci);
    CB_RUN(test_row_energy);
    return CB_TEST_END("test_cublas");
}
