// test_opencl.c: the OpenCL back-end on whatever device is here (PoCL's CPU
// device in CI): device selection rules, GEMM parameter text, every variant
// and transpose against float64 through the harness path, both attention
// forward variants, a broken program
// (build log in the error, cached failure), the tuning file round trip and
// its use by the plan. The no-platform path needs a fresh process (the ICD
// loader reads its vendor list once), so it is in test_cli.sh.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cb_test.h"
#include "check_kernel.h"
#include "chipbench/cb_bench.h"
#include "chipbench/cb_csv.h"
#include "chipbench/cb_shape.h"

#if CB_HAVE_OPENCL
#include "../kernels/opencl/cl_attn.h"
#include "../kernels/opencl/cl_gemm.h"
#include "../kernels/opencl/cl_mma.h"
#include "../kernels/opencl/cl_tuning.h"
#include "../kernels/opencl/clrt.h"

static void test_device_resolve(void)
{
    struct cb_ocl_device d[3];
    memset(d, 0, sizeof d);
    d[0] = (struct cb_ocl_device){.platform_index = 0, .device_index = 0};
    snprintf(d[0].name, sizeof d[0].name, "pthread-znver4");
    snprintf(d[0].type, sizeof d[0].type, "cpu");
    snprintf(d[0].platform_name, sizeof d[0].platform_name, "Portable Computing Language");
    d[1] = (struct cb_ocl_device){.platform_index = 1, .device_index = 0};
    snprintf(d[1].name, sizeof d[1].name, "NVIDIA H200");
    snprintf(d[1].vendor, sizeof d[1].vendor, "NVIDIA Corporation");
    snprintf(d[1].type, sizeof d[1].type, "gpu");
    d[2] = (struct cb_ocl_device){.platform_index = 1, .device_index = 1};
    snprintf(d[2].name, sizeof d[2].name, "NVIDIA H100");
    snprintf(d[2].type, sizeof d[2].type, "gpu");
    int ix = -1;
    CB_CHECK(cb_clrt_resolve(NULL, d, 3, &ix) == CB_OK && ix == 1);  // first GPU
    CB_CHECK(cb_clrt_resolve("opencl", d, 3, &ix) == CB_OK && ix == 1);
    CB_CHECK(cb_clrt_resolve("opencl:0:0", d, 3, &ix) == CB_OK && ix == 0);
    CB_CHECK(cb_clrt_resolve("1:1", d, 3, &ix) == CB_OK && ix == 2);
    CB_CHECK(cb_clrt_resolve("h100", d, 3, &ix) == CB_OK && ix == 2);
    CB_CHECK(cb_clrt_resolve("portable", d, 3, &ix) == CB_OK && ix == 0);
    CB_CHECK(cb_clrt_resolve("nvidia corp", d, 3, &ix) == CB_OK && ix == 1);
    CB_CHECK(cb_clrt_resolve("opencl:2:0", d, 3, &ix) == CB_ERR_UNSUPPORTED);
    CB_CHECK(strstr(cb_error_text(), "no OpenCL device 0 on platform 2"));
    CB_CHECK(cb_clrt_resolve("mali", d, 3, &ix) == CB_ERR_UNSUPPORTED);
    CB_CHECK(strstr(cb_error_text(), "'mali'"));
    CB_CHECK(cb_clrt_resolve(NULL, d, 0, &ix) == CB_ERR_UNSUPPORTED);
    // Only CPUs: the first device.
    CB_CHECK(cb_clrt_resolve("", d, 1, &ix) == CB_OK && ix == 0);
}

// Every device kernel must hand the harness what device rows need: results
// home (finish, readback), the device and its counter (where, pci_bus) and
// the event time; a kernel missing one loses its energy or device columns.
static void test_device_kernel_hooks(void)
{
    int n = 0;
    for (int i = 0; i < cb_registry_count(); i++) {
        const struct cb_kernel *k = cb_registry_get(i);
        if ((k->backend != CB_BACKEND_OPENCL && k->backend != CB_BACKEND_CLBLAST) ||
            k->not_built)
            continue;
        n++;
        CB_CHECK_MSG(k->finish && k->readback && k->where && k->pci_bus && k->device_time_ns &&
                         k->available && k->max_threads == 1,
                     "%s lacks a device hook", k->name);
    }
    CB_CHECK(n >= 4);
}

static void test_params_text(void)
{
    struct cb_cl_gemm_params p;
    char buf[160];
    CB_CHECK(cb_cl_gemm_params_parse("tiled:TM=128,TN=64,TK=16,RM=8,RN=4,LPAD=0", &p) == CB_OK);
    CB_CHECK(p.variant == CB_CL_GEMM_TILED && p.tm == 128 && p.tn == 64 && p.lpad == 0);
    cb_cl_gemm_params_str(&p, buf, sizeof buf);
    CB_CHECK_STR(buf, "tiled:TM=128,TN=64,TK=16,RM=8,RN=4,LPAD=0,WX=0");
    CB_CHECK(cb_cl_gemm_params_parse("reg", &p) == CB_OK && p.variant == CB_CL_GEMM_REG);
    CB_CHECK(cb_cl_gemm_params_parse("reg:MR=12,NV=2", &p) == CB_OK && p.mr == 12 && p.vw == 16);
    static const char *const bad[] = {
        "", "gpu:TM=64", "tiled:TM=62", "tiled:XX=4", "tiled:TM=64;TN=64", "reg:VW=5",
        "reg:MR=0", "tiled:TM", "tiled:TM=128,TN=128,RM=8,RN=8,TK=4",  // 256 threads, 128 loads
        "reg:MR=8,tiled",
        // Out of range or not a plain decimal: products of such values
        // would overflow int in the checks (found by reading, see fuzz note).
        "tiled:TM=4097", "tiled:TM=99999999999", "tiled:TM=2147483647,TK=2147483647",
        "reg:LX=65536,LY=65536", "tiled:TM=-4", "tiled:TM= 64", "tiled:TM=0x40",
        "tiled:TM=64x", NULL,
    };
    for (int i = 0; bad[i]; i++)
        CB_CHECK_MSG(cb_cl_gemm_params_parse(bad[i], &p) == CB_ERR_PARSE, "accepted '%s'",
                     bad[i]);
    struct cb_call c;
    CB_CHECK(cb_shape_parse("256x256x256", &c) == CB_OK);
    CB_CHECK_STR(cb_cl_gemm_shape_class(&c.u.gemm), "s");
    CB_CHECK(cb_shape_parse("1x4096x4096", &c) == CB_OK);  // gm 256: small work
    CB_CHECK_STR(cb_cl_gemm_shape_class(&c.u.gemm), "s");
    CB_CHECK(cb_shape_parse("1024x1024x2048", &c) == CB_OK);
    CB_CHECK_STR(cb_cl_gemm_shape_class(&c.u.gemm), "m");
    CB_CHECK(cb_shape_parse("8192x8192x8192", &c) == CB_OK);
    CB_CHECK_STR(cb_cl_gemm_shape_class(&c.u.gemm), "l");
}

static struct cb_clrt *device_or_skip(void)
{
    struct cb_clrt *rt = NULL;
    if (cb_clrt_open(NULL, &rt) != CB_OK)
        return NULL;
    return rt;
}

// Every variant the tuner can pick must be right on every layout, with f32
// and with f16 storage: forced
// parameter sets (small tiles so the odd shapes cross tile edges in M, N
// and K, padded and unpadded operands, both LPADs) through the full harness
// row: plan, NaN poison, run, readback, float64 check.
static void test_variants_all_layouts(void)
{
    if (!device_or_skip())
        CB_SKIP("no OpenCL device: %s", cb_error_text());
    static const char *const params[] = {
        "tiled:TM=32,TN=32,TK=8,RM=4,RN=4,LPAD=4,WX=8", "tiled:TM=64,TN=32,TK=16,RM=8,RN=4,LPAD=0",
        "tiled:TM=32,TN=64,TK=8,RM=4,RN=8,LPAD=4", "reg:MR=8,VW=16,NV=2,LX=2,LY=4",
        "reg:MR=3,VW=4,NV=3,LX=1,LY=1", NULL,
    };
    static const char *const shapes[] = {
        "1x1x1",         "7x13x5",           "65x63x9:nt", "64x64x64",
        "33x17x257:nt",  "17x33x129:tn",     "31x29x37:tt", "65x63x7,lda=80,ldb=70,ldc=99",
        "96x64x32:tt,lda=100,ldb=36", "45x46x47,alpha=-0.75,beta=0.5", "1x200x64:tn",
        NULL,
    };
    struct cb_bench_opts o;
    check_quick_opts(&o);
    // f16 storage: the tiled kernel reads halves itself (vload_half4); the
    // reg variant packs them to f32 first (pad_copy_hf).
    for (int kn = 0; kn < 2; kn++)
    for (int i = 0; params[i]; i++) {
        const struct cb_kernel *k = cb_registry_find(kn ? "gemm_f16_opencl" : "gemm_f32_opencl");
        CB_CHECK(k != NULL);
        struct cb_cl_gemm_params p;
        CB_CHECK(cb_cl_gemm_params_parse(params[i], &p) == CB_OK);
        for (int j = 0; shapes[j]; j++) {
            struct cb_call c;
            struct cb_result r;
            CB_CHECK(cb_shape_parse(shapes[j], &c) == CB_OK);
            cb_cl_gemm_force(&p);
            enum cb_status s = cb_bench_row(k, &c, 1, &o, &r);
            cb_cl_gemm_force(NULL);
            CB_CHECK_MSG(s == CB_OK, "%s %s %s: %.300s", k->name, params[i], shapes[j], r.note);
            CB_CHECK_MSG(strstr(r.device, params[i]) != NULL, "device column '%s'", r.device);
            CB_CHECK(strcmp(r.cache_mode, "device") == 0);
            cb_result_free(&r);
        }
    }
}

// Both attention forward variants, forced through the tuner's hook, on
// shapes that cross every block edge (rows, keys, D chunks, the partial last
// V chunk), causal with Lq < Lk and Lq > Lk (rows that see no key), GQA,
// D not a multiple of 4: the full harness row against float64 (O and lse).
static void test_attn_variants(void)
{
    if (!device_or_skip())
        CB_SKIP("no OpenCL device: %s", cb_error_text());
    static const char *const params[] = {
        "BQ=16,BK=16,TX=4,RQ=2,PAD=4",
        "tiles:BQ=64,BK=64,TK=8,TV=8,RM=4,RS=4,PAD=4",
        "tiles:BQ=64,BK=128,TK=16,TV=8,RM=8,RS=8,PAD=4",
        "tiles:BQ=128,BK=64,TK=8,TV=4,RM=8,RS=4,PAD=4",
        "tiles:BQ=32,BK=32,TK=16,TV=16,RM=4,RS=4,PAD=0",
        "tiles:BQ=32,BK=128,TK=4,TV=32,RM=8,RS=8,PAD=4",
        "tiles:BQ=64,BK=32,TK=32,TV=2,RM=4,RS=4,PAD=4",
        "tiles:BQ=128,BK=128,TK=8,TV=8,RM=8,RS=8,PAD=4,PS=2",
        "tiles:BQ=32,BK=64,TK=8,TV=4,RM=4,RS=8,PAD=4,PS=2",
        NULL,
    };
    static const char *const shapes[] = {
        "b=1,h=1,s=1,d=1",
        "b=2,h=4,kvh=2,s=65,d=64,causal=1",
        "b=1,h=3,sq=17,skv=65,d=24,causal=1",
        "b=1,h=2,sq=97,skv=33,d=13,causal=1",
        "b=1,h=2,sq=130,skv=250,d=40,causal=0,scale=20",
        "b=1,h=2,s=129,d=128,causal=1",
        NULL,
    };
    const struct cb_kernel *k = cb_registry_find("attn_f32_opencl");
    CB_CHECK(k != NULL);
    struct cb_bench_opts o;
    check_quick_opts(&o);
    for (int i = 0; params[i]; i++)
        for (int j = 0; shapes[j]; j++) {
            struct cb_call c;
            struct cb_result r;
            CB_CHECK(cb_shape_parse(shapes[j], &c) == CB_OK);
            CB_CHECK(cb_cl_attn_force(params[i]) == CB_OK);
            enum cb_status s = cb_bench_row(k, &c, 1, &o, &r);
            cb_cl_attn_force(NULL);
            CB_CHECK_MSG(s == CB_OK, "%s %s: %.300s", params[i], shapes[j], r.note);
            CB_CHECK_MSG(strstr(r.device, params[i]) != NULL, "device column '%s'", r.device);
            cb_result_free(&r);
        }
    // Bad sets are refused with the reason, not built.
    static const char *const bad[] = {
        "tiles:BQ=64,BK=64,TK=8,RM=3,RS=4",  // RM not a multiple of 4
        "tiles:BQ=64,BK=64,TX=8",            // a rows key in a tiles set
        "tiles:BQ=128,BK=32,TK=8,RM=8,RS=8", // 64 threads for 128 rows
        "tiles:BQ=64,BK=64,TK=8,TV=48",      // BK % TV
        "tiles:BQ=64,BK=64,TK=8,REG=20",     // a register cap below 32
        "tiles:BQ=64,BK=64,RS=4,PS=2",       // PS must divide RS/4
        "BQ=32,BK=30,TX=8",                  // BK % TX
        NULL,
    };
    for (int i = 0; bad[i]; i++) {
        CB_CHECK_MSG(cb_cl_attn_force(bad[i]) == CB_ERR_PARSE, "%s accepted", bad[i]);
        cb_clear_error();
    }
    cb_cl_attn_force(NULL);
    // Spilling register tiles are refused at plan time (D decides RO).
    struct cb_clrt *rt = device_or_skip();
    CB_CHECK(cb_cl_attn_params_fit(rt, "tiles:BQ=128,BK=64,TK=8,RM=8,RS=8", 128) ==
             CB_ERR_UNSUPPORTED);
    CB_CHECK(strstr(cb_error_text(), "spill") != NULL);
    cb_clear_error();
    CB_CHECK(cb_cl_attn_params_fit(rt, "tiles:BQ=128,BK=64,TK=8,RM=8,RS=4", 128) == CB_OK);
    // A register cap is NVIDIA's build option: refused with the reason
    // elsewhere (PoCL here), accepted for an NVIDIA device.
    const char *capped = "tiles:BQ=64,BK=128,TK=8,TV=8,RM=8,RS=8,PAD=4,REG=168";
    if (!strstr(rt->info.vendor, "NVIDIA")) {
        CB_CHECK(cb_cl_attn_params_fit(rt, capped, 128) == CB_ERR_UNSUPPORTED);
        CB_CHECK(strstr(cb_error_text(), "maxrregcount") != NULL);
        cb_clear_error();
    }
    struct cb_clrt *nv = calloc(1, sizeof *nv);
    CB_CHECK(nv != NULL);
    snprintf(nv->info.type, sizeof nv->info.type, "gpu");
    snprintf(nv->info.vendor, sizeof nv->info.vendor, "NVIDIA Corporation");
    nv->info.max_work_group = 1024;
    nv->info.local_mem_bytes = 48 * 1024;
    CB_CHECK(cb_cl_attn_params_fit(nv, capped, 128) == CB_OK);
    free(nv);

    // Options from the environment reach the compiler (a bad one is a
    // skipped row naming it, never a crash), and leave with it.
    const struct cb_kernel *k2 = cb_registry_find("attn_f32_opencl");
    struct cb_call c;
    struct cb_result r;
    CB_CHECK(cb_shape_parse("b=1,h=1,s=9,d=12", &c) == CB_OK);
    setenv("CHIPBENCH_CL_BUILD_OPTS", "-no-such-option-chipbench", 1);
    CB_CHECK(cb_bench_row(k2, &c, 1, &o, &r) != CB_OK);
    CB_CHECK_MSG(strstr(r.note, "-no-such-option-chipbench") != NULL, "%.300s", r.note);
    cb_result_free(&r);
    unsetenv("CHIPBENCH_CL_BUILD_OPTS");
    CB_CHECK(cb_bench_row(k2, &c, 1, &o, &r) == CB_OK);
    cb_result_free(&r);
    cb_clear_error();
}

// The untuned default per device type and head dim, on made-up devices (the
// choice reads only the type and limits): GPUs get the H200's tiles sets
// where they fit, smaller ones where local memory or D demand it, the rows
// variant when no tiles set fits; CPUs keep rows.
static void test_attn_default_choice(void)
{
    struct cb_clrt *rt = calloc(1, sizeof *rt);
    CB_CHECK(rt != NULL);
    snprintf(rt->info.type, sizeof rt->info.type, "gpu");
    rt->info.max_work_group = 1024;
    rt->info.local_mem_bytes = 48 * 1024;
    char buf[160];
    CB_CHECK(cb_cl_attn_default(rt, 128, buf, sizeof buf) == CB_OK);
    CB_CHECK_STR(buf, "tiles:BQ=64,BK=128,TK=8,TV=8,RM=8,RS=8,PAD=4");
    CB_CHECK(cb_cl_attn_default(rt, 64, buf, sizeof buf) == CB_OK);
    CB_CHECK_STR(buf, "tiles:BQ=64,BK=64,TK=16,TV=8,RM=8,RS=8,PAD=4");
    // D=256: both 8 x 8 sets would hold 192 accumulators.
    CB_CHECK(cb_cl_attn_default(rt, 256, buf, sizeof buf) == CB_OK);
    CB_CHECK_STR(buf, "tiles:BQ=64,BK=64,TK=8,TV=8,RM=4,RS=4,PAD=4");
    rt->info.local_mem_bytes = 32 * 1024;
    CB_CHECK(cb_cl_attn_default(rt, 128, buf, sizeof buf) == CB_OK);
    CB_CHECK_STR(buf, "tiles:BQ=64,BK=64,TK=8,TV=8,RM=4,RS=4,PAD=4");
    // 128 threads too many: the rows variant, shrunk to the device.
    rt->info.max_work_group = 64;
    rt->info.local_mem_bytes = 16 * 1024;
    CB_CHECK(cb_cl_attn_default(rt, 64, buf, sizeof buf) == CB_OK);
    CB_CHECK_MSG(strncmp(buf, "BQ=", 3) == 0, "%s", buf);
    snprintf(rt->info.type, sizeof rt->info.type, "cpu");
    rt->info.max_work_group = 4096;
    rt->info.local_mem_bytes = 4 << 20;
    CB_CHECK(cb_cl_attn_default(rt, 128, buf, sizeof buf) == CB_OK);
    CB_CHECK_STR(buf, "BQ=32,BK=64,TX=8,RQ=4,PAD=4");
    cb_clear_error();
    free(rt);
}

// Matrix units of other vendors: the extension is recognized as a whole word
// of the list, and a device that has one hears so in the skip reason of the
// (NVIDIA-only) matrix-unit kernels; made-up devices, nothing opened.
static void test_matrix_ext_detected(void)
{
    char buf[64];
    cb_ocl_matrix_ext("cl_khr_fp16 cl_intel_subgroup_matrix_multiply_accumulate cl_khr_fp64",
                      buf, sizeof buf);
    CB_CHECK_STR(buf, "cl_intel_subgroup_matrix_multiply_accumulate");
    cb_ocl_matrix_ext("cl_intel_subgroup_matrix_multiply_accumulate_tf32", buf, sizeof buf);
    CB_CHECK_STR(buf, "");  // another extension whose name only starts the same
    cb_ocl_matrix_ext("cl_khr_fp16", buf, sizeof buf);
    CB_CHECK_STR(buf, "");
    cb_ocl_matrix_ext(NULL, buf, sizeof buf);
    CB_CHECK_STR(buf, "");
    if (cb_cl_mma_emulate())
        CB_SKIP("CHIPBENCH_CL_MMA=emulate is set: every device passes the check");
    struct cb_clrt *rt = calloc(1, sizeof *rt);
    CB_CHECK(rt != NULL);
    snprintf(rt->info.name, sizeof rt->info.name, "Intel(R) Data Center GPU Max 1550");
    snprintf(rt->info.vendor, sizeof rt->info.vendor, "Intel(R) Corporation");
    snprintf(rt->info.platform_vendor, sizeof rt->info.platform_vendor, "Intel(R) Corporation");
    snprintf(rt->info.matrix_ext, sizeof rt->info.matrix_ext,
             "cl_intel_subgroup_matrix_multiply_accumulate");
    CB_CHECK(cb_cl_mma_device_ok(rt, 0) == CB_ERR_UNSUPPORTED);
    CB_CHECK_MSG(strstr(cb_error_text(), "NVIDIA") &&
                     strstr(cb_error_text(), "cl_intel_subgroup_matrix_multiply_accumulate") &&
                     strstr(cb_error_text(), "no kernel for yet"),
                 "%s", cb_error_text());
    rt->info.matrix_ext[0] = 0;
    CB_CHECK(cb_cl_mma_device_ok(rt, 1) == CB_ERR_UNSUPPORTED);
    CB_CHECK_MSG(!strstr(cb_error_text(), "detects"), "%s", cb_error_text());
    cb_clear_error();
    free(rt);
}

// The matrix-unit kernels (bf16 and tf32 GEMM, bf16 attention forward and
// backward):
// unavailable here with the reason;
// with the PTX instruction emulated (CHIPBENCH_CL_MMA=emulate) every other part of
// it (tiles, fragment loads and stores, both layouts of A and B, padding,
// alpha/beta, bounds) against float64 through the harness row.
static void test_mma_gemm_emulated(void)
{
    if (!device_or_skip())
        CB_SKIP("no OpenCL device: %s", cb_error_text());
    const struct cb_kernel *k = cb_registry_find("gemm_bf16_opencl");
    CB_CHECK(k != NULL);
    struct cb_clrt *rt = device_or_skip();
    if (!strstr(rt->info.vendor, "NVIDIA")) {
        CB_CHECK(cb_kernel_usable(k) == CB_ERR_UNSUPPORTED);
        CB_CHECK_MSG(strstr(cb_error_text(), "matrix units") != NULL, "%s", cb_error_text());
        cb_clear_error();
    }
    static const char *const shapes[] = {
        "130x140x70,alpha=-0.75,beta=0.5", "65x63x9:nt,ldc=70", "33x17x257:tn",
        "31x29x37:tt,lda=40,ldb=48", NULL,
    };
    // tf32: f32 operands, the two layouts that scatter 4-element vectors.
    static const char *const tf32_shapes[] = {"65x63x9:nt,ldc=70", "33x17x257:tn", NULL};
    const struct cb_kernel *kt = cb_registry_find("gemm_tf32_opencl");
    CB_CHECK(kt != NULL);
    struct cb_bench_opts o;
    check_quick_opts(&o);
    setenv("CHIPBENCH_CL_MMA", "emulate", 1);
    CB_CHECK(cb_kernel_usable(k) == CB_OK);
    // The default set (ldmatrix, whose emulation takes each lane's row
    // address as the instruction does), then ldmatrix with cp.async, small
    // warp tiles, three stages, and the 32-bit fragment loads (LDM=0).
    // (The options on 32 x 32 warp tiles or smaller: the addressing is the
    // same for any tile, and PoCL compiles the emulation of 64 x 64's 32
    // inlined mma steps for minutes.)
    static const char *const sets[] = {NULL, "WM=32,WN=32,LDM=1,CPA=1",
                                       "WM=32,WN=16,LDM=1,CPA=1",
                                       "WM=32,WN=32,LDM=1,CPA=1,ST=3", "WM=32,WN=32,LDM=0"};
    for (int ps = 0; ps < (int)(sizeof sets / sizeof *sets); ps++) {
        CB_CHECK(cb_cl_mma_gemm_force(sets[ps]) == CB_OK);
        for (int v = 0; v < 2; v++) {
            const char *const *sh = v ? tf32_shapes : shapes;
            // Every layout on the first forced set only; the others on one
            // layout each: every (set, layout) is a compile, the slow part on
            // PoCL, and the layouts' addressing does not depend on the warp
            // tile, and the default 64 x 64 set is the slowest to compile.
            // ST=3 is bf16 only (tf32 rows say why, below)
            for (int j = 0; sh[j] && (ps == 1 || j < 1) && !(v && ps == 3); j++) {
                struct cb_call c;
                struct cb_result r;
                CB_CHECK(cb_shape_parse(sh[j], &c) == CB_OK);
                enum cb_status s = cb_bench_row(v ? kt : k, &c, 1, &o, &r);
                CB_CHECK_MSG(s == CB_OK, "%s %s [%s]: %.300s", v ? kt->name : k->name, sh[j],
                             sets[ps] ? sets[ps] : "default", r.note);
                CB_CHECK_MSG(strstr(r.device, v ? "mma.sync tf32" : "mma.sync bf16") &&
                                 strstr(r.device, "emulated") &&
                                 strstr(r.device, sets[ps] ? "forced" : "default") &&
                                 (sets[ps] || strstr(r.device, "LDM=1")),
                             "%s", r.device);
                cb_result_free(&r);
            }
        }
    }
    // Three stages need cp.async for both tiles: not tf32, nor bf16 without
    // ldmatrix unless A is (M,K) and B is (N,K).
    struct cb_call c3;
    struct cb_result r3;
    CB_CHECK(cb_cl_mma_gemm_force("WM=32,WN=32,LDM=1,CPA=1,ST=3") == CB_OK);
    CB_CHECK(cb_shape_parse("65x63x9:nt", &c3) == CB_OK);
    CB_CHECK(cb_bench_row(kt, &c3, 1, &o, &r3) == CB_ERR_UNSUPPORTED);
    CB_CHECK_MSG(strstr(r3.note, "ST=3 needs cp.async") != NULL, "%.300s", r3.note);
    cb_result_free(&r3);
    CB_CHECK(cb_cl_mma_gemm_force("WM=32,WN=32,LDM=0,CPA=1,ST=3") == CB_OK);
    CB_CHECK(cb_shape_parse("33x17x64:tn", &c3) == CB_OK);
    CB_CHECK(cb_bench_row(k, &c3, 1, &o, &r3) == CB_ERR_UNSUPPORTED);
    cb_result_free(&r3);
    CB_CHECK(cb_cl_mma_gemm_force(NULL) == CB_OK);
    // Sets outside the kernel's space are refused with the reason.
    static const char *const bad[] = {"WM=48", "WN=128", "LDM=2", "CPA=-1", "XX=1", "WM=",
                                      "ST=3", "WN=16,CPA=1,ST=3", "CPA=1,ST=4", NULL};
    for (int j = 0; bad[j]; j++) {
        CB_CHECK_MSG(cb_cl_mma_gemm_force(bad[j]) == CB_ERR_PARSE, "%s", bad[j]);
        CB_CHECK_MSG(strstr(cb_error_text(), bad[j]) != NULL, "%s", cb_error_text());
        cb_clear_error();
    }
    // The bf16 flash-attention forward on the same emulated instructions:
    // GQA and causal with rows that see no key (Lq > Lk), D = 128, several
    // key blocks with a ragged last one; D not a multiple of 16 is refused.
    static const char *const attn_shapes[] = {
        "b=2,h=4,kvh=2,s=65,d=64,causal=1", "b=1,h=2,sq=97,skv=33,d=16,causal=1",
        "b=1,h=2,s=130,d=128", NULL,
    };
    const struct cb_kernel *ka = cb_registry_find("attn_bf16_opencl");
    CB_CHECK(ka != NULL);
    // Both fragment paths (CHIPBENCH_CL_MMA_ATTN): 32-bit loads with a
    // transposed V tile, and ldmatrix with V read .trans (on D <= 64 only:
    // each D is a compile, D = 128's the slowest on PoCL, and the fragment
    // addressing is the same for every D).
    // Unset (2), the forward takes ldmatrix (what an H200 measured faster);
    // 3: ldmatrix with K and V blocks by cp.async (emulated as plain copies
    // at issue time, so a block overwritten while a warp still reads it
    // fails here; ragged and fully masked blocks included).
    static const char *const attn_env[] = {"LDM=0", "LDM=1", NULL, "LDM=1,CPA=1"};
    for (int ldm = 0; ldm < (int)(sizeof attn_env / sizeof *attn_env); ldm++) {
        if (attn_env[ldm])
            setenv("CHIPBENCH_CL_MMA_ATTN", attn_env[ldm], 1);
        else
            unsetenv("CHIPBENCH_CL_MMA_ATTN");
        for (int j = 0; attn_shapes[j]; j++) {
            if ((ldm && strstr(attn_shapes[j], "d=128")) || (ldm == 2 && j))
                continue;
            struct cb_call c;
            struct cb_result r;
            CB_CHECK(cb_shape_parse(attn_shapes[j], &c) == CB_OK);
            enum cb_status s = cb_bench_row(ka, &c, 1, &o, &r);
            CB_CHECK_MSG(s == CB_OK, "%s %s LDM=%d: %.300s", ka->name, attn_shapes[j], ldm,
                         r.note);
            CB_CHECK_MSG(strstr(r.device, ldm ? "LDM=1" : "LDM=0") != NULL &&
                             (strstr(r.device, "CPA=1") != NULL) == (ldm == 3),
                         "%s", r.device);
            cb_result_free(&r);
        }
    }
    // The bf16 backward (dQ, then dK/dV) the same way: GQA with causal
    // rows that see no key (Lq > Lk) and Lq < Lk, several query and key
    // blocks with ragged last ones at D = 128 (32-row steps) and D = 64
    // (64-row steps), large logits (scale 20); ldmatrix on D = 16 and 64.
    static const char *const bwd_shapes[] = {
        "b=1,h=4,kvh=2,sq=97,skv=33,d=16,causal=1", "b=1,h=2,kvh=1,sq=40,skv=130,d=64,causal=1",
        "b=1,h=1,s=80,d=128", "b=1,h=2,kvh=1,s=70,d=32,causal=1,scale=20", NULL,
    };
    const struct cb_kernel *kb = cb_registry_find("attn_bwd_bf16_opencl");
    CB_CHECK(kb != NULL);
    for (int ldm = 0; ldm < 2; ldm++) {
        setenv("CHIPBENCH_CL_MMA_ATTN", ldm ? "LDM=1" : "LDM=0", 1);
        for (int j = 0; bwd_shapes[j]; j++) {
            if (ldm && !strstr(bwd_shapes[j], "d=16") && !strstr(bwd_shapes[j], "d=64"))
                continue;
            struct cb_call fc, c;
            struct cb_result r;
            CB_CHECK(cb_shape_parse(bwd_shapes[j], &fc) == CB_OK);
            CB_CHECK(cb_shape_as_op(&fc, CB_OP_ATTN_BWD, &c));
            enum cb_status s = cb_bench_row(kb, &c, 1, &o, &r);
            CB_CHECK_MSG(s == CB_OK, "%s %s LDM=%d: %.300s", kb->name, bwd_shapes[j], ldm,
                         r.note);
            cb_result_free(&r);
        }
    }
    // Unset, the backward keeps the 32-bit loads (not yet measured on a GPU).
    unsetenv("CHIPBENCH_CL_MMA_ATTN");
    {
        struct cb_call fc, c;
        struct cb_result r;
        CB_CHECK(cb_shape_parse(bwd_shapes[0], &fc) == CB_OK);
        CB_CHECK(cb_shape_as_op(&fc, CB_OP_ATTN_BWD, &c));
        CB_CHECK(cb_bench_row(kb, &c, 1, &o, &r) == CB_OK);
        CB_CHECK_MSG(strstr(r.device, "LDM=0") && strstr(r.device, "default"), "%s", r.device);
        cb_result_free(&r);
    }
    // A value outside 0/1, and cp.async without ldmatrix, are refused with
    // the reason; the backward has no cp.async path and says so.
    static const char *const bad_attn[] = {"LDM=2", "CPA=2", "LDM=0,CPA=1", NULL};
    for (int j = 0; bad_attn[j]; j++) {
        setenv("CHIPBENCH_CL_MMA_ATTN", bad_attn[j], 1);
        struct cb_call c;
        struct cb_result r;
        CB_CHECK(cb_shape_parse("b=1,h=1,s=16,d=16", &c) == CB_OK);
        CB_CHECK_MSG(cb_bench_row(ka, &c, 1, &o, &r) == CB_ERR_INVALID_ARG, "%s", bad_attn[j]);
        CB_CHECK_MSG(strstr(r.note, "CHIPBENCH_CL_MMA_ATTN") != NULL, "%.300s", r.note);
        cb_result_free(&r);
    }
    setenv("CHIPBENCH_CL_MMA_ATTN", "CPA=1", 1);
    {
        struct cb_call fc, c;
        struct cb_result r;
        CB_CHECK(cb_shape_parse("b=1,h=1,s=16,d=16", &fc) == CB_OK);
        CB_CHECK(cb_shape_as_op(&fc, CB_OP_ATTN_BWD, &c));
        CB_CHECK(cb_bench_row(kb, &c, 1, &o, &r) == CB_ERR_UNSUPPORTED);
        CB_CHECK_MSG(strstr(r.note, "forward's only") != NULL, "%.300s", r.note);
        cb_result_free(&r);
    }
    unsetenv("CHIPBENCH_CL_MMA_ATTN");
    struct cb_call c;
    struct cb_result r;
    CB_CHECK(cb_shape_parse("b=1,h=1,s=8,d=24", &c) == CB_OK);
    CB_CHECK(cb_bench_row(ka, &c, 1, &o, &r) == CB_ERR_UNSUPPORTED);
    CB_CHECK_MSG(strstr(r.note, "multiple of 16") != NULL, "%.300s", r.note);
    cb_result_free(&r);
    struct cb_call cbwd;
    CB_CHECK(cb_shape_as_op(&c, CB_OP_ATTN_BWD, &cbwd));
    CB_CHECK(cb_bench_row(kb, &cbwd, 1, &o, &r) == CB_ERR_UNSUPPORTED);
    CB_CHECK_MSG(strstr(r.note, "multiple of 16") != NULL, "%.300s", r.note);
    cb_result_free(&r);
    unsetenv("CHIPBENCH_CL_MMA");
    cb_clear_error();
}

static void test_build_failure(void)
{
    struct cb_clrt *rt = device_or_skip();
    if (!rt)
        CB_SKIP("no OpenCL device: %s", cb_error_text());
    static const char src[] =
        "__kernel void f(__global float *x) { x[0] = undefined_thing_42; }\n";
    cl_program p = NULL;
    CB_CHECK(cb_clrt_program(rt, "broken.cl", src, "-D X=1", &p) == CB_ERR_UNSUPPORTED);
    CB_CHECK(p == NULL);
    const char *msg = cb_error_text();
    CB_CHECK_MSG(strstr(msg, "broken.cl") && strstr(msg, "undefined_thing_42") &&
                     strstr(msg, "-D X=1"),
                 "message: %s", msg);
    // The failure is remembered: same status and text, no rebuild.
    CB_CHECK(cb_clrt_program(rt, "broken.cl", src, "-D X=1", &p) == CB_ERR_UNSUPPORTED);
    CB_CHECK(strstr(cb_error_text(), "undefined_thing_42"));
    // A bad option is a build failure too, not a crash.
    CB_CHECK(cb_clrt_program(rt, "ok.cl", "__kernel void g(void) {}", "-not-an-option", &p) ==
             CB_ERR_UNSUPPORTED);
    // And a kernel name that is not in the program.
    CB_CHECK(cb_clrt_program(rt, "ok.cl", "__kernel void g(void) {}", "", &p) == CB_OK);
    cl_kernel kk;
    CB_CHECK(cb_clrt_kernel(p, "h", &kk) == CB_ERR_BACKEND);
    CB_CHECK(strstr(cb_error_text(), "clCreateKernel(h)"));
    // A forced variant that does not fit the device is a skipped row, not a crash.
    const struct cb_kernel *k = cb_registry_find("gemm_f32_opencl");
    // 2 x tk x (2 x 260) floats of local memory, tk chosen to need more than
    // this device has (PoCL reports the L2's size: 2 MiB on some Xeons).
    const int tk = (int)(rt->info.local_mem_bytes / (2 * 4 * 520)) / 8 * 8 + 8;
    struct cb_cl_gemm_params huge = {.variant = CB_CL_GEMM_TILED, .tm = 256, .tn = 256,
                                     .tk = tk, .rm = 8, .rn = 8, .lpad = 4};
    struct cb_bench_opts o;
    struct cb_result r;
    struct cb_call c;
    check_quick_opts(&o);
    CB_CHECK(cb_shape_parse("64x64x64", &c) == CB_OK);
    cb_cl_gemm_force(&huge);
    enum cb_status s = cb_bench_row(k, &c, 1, &o, &r);
    cb_cl_gemm_force(NULL);
    CB_CHECK_MSG(s == CB_ERR_UNSUPPORTED && strstr(r.note, "exceed"), "%d %.300s", s, r.note);
    cb_result_free(&r);
}

static void test_tuning_file(void)
{
    struct cb_clrt *rt = device_or_skip();
    if (!rt)
        CB_SKIP("no OpenCL device: %s", cb_error_text());
    char path[] = "/tmp/cb_tuning_XXXXXX";
    int fd = mkstemp(path);
    CB_CHECK(fd >= 0);
    close(fd);
    unlink(path);  // save must create it with its header
    setenv("CHIPBENCH_TUNING", path, 1);
    struct cb_cl_tuning_entry e = {.gflops = 12.5};
    snprintf(e.vendor, sizeof e.vendor, "%s", rt->info.vendor);
    snprintf(e.device, sizeof e.device, "%s", rt->info.name);
    snprintf(e.driver, sizeof e.driver, "%s", rt->info.driver_version);
    snprintf(e.kernel, sizeof e.kernel, "gemm_f32_opencl");
    snprintf(e.shape_class, sizeof e.shape_class, "s");
    snprintf(e.params, sizeof e.params, "reg:MR=4,VW=8,NV=1,LX=1,LY=2");
    snprintf(e.tuned_utc, sizeof e.tuned_utc, "2026-01-01T00:00:00Z");
    struct cb_cl_tuning_entry other = e;
    snprintf(other.device, sizeof other.device, "Some Other Device");
    CB_CHECK(cb_cl_tuning_save(path, &other, 1) == CB_OK);
    CB_CHECK(cb_cl_tuning_save(path, &e, 1) == CB_OK);
    snprintf(e.params, sizeof e.params, "reg:MR=6,VW=8,NV=1,LX=1,LY=2");
    CB_CHECK(cb_cl_tuning_save(path, &e, 1) == CB_OK);  // replaces, keeps `other`
    struct cb_csv_table t;
    CB_CHECK(cb_csv_read(path, &t) == CB_OK);
    CB_CHECK(t.nrows == 2);
    cb_csv_table_free(&t);
    char params[160];
    const char *src = NULL;
    CB_CHECK(cb_cl_tuning_lookup(&rt->info, "gemm_f32_opencl", "s", params, sizeof params,
                                 &src) == CB_OK);
    CB_CHECK_STR(params, "reg:MR=6,VW=8,NV=1,LX=1,LY=2");
    // A class with no entry in either file: not an error, defaults apply.
    CB_CHECK(cb_cl_tuning_lookup(&rt->info, "gemm_f32_opencl", "nosuchclass", params,
                                 sizeof params, &src) == CB_ERR_UNSUPPORTED);

    // The plan uses the entry for the shape's class, and says so.
    const struct cb_kernel *k = cb_registry_find("gemm_f32_opencl");
    struct cb_bench_opts o;
    struct cb_result r;
    struct cb_call c;
    check_quick_opts(&o);
    CB_CHECK(cb_shape_parse("30x20x10", &c) == CB_OK);
    CB_CHECK(cb_bench_row(k, &c, 1, &o, &r) == CB_OK);
    CB_CHECK_MSG(strstr(r.device, "reg:MR=6,VW=8,NV=1") && strstr(r.device, path), "%s",
                 r.device);
    cb_result_free(&r);

    // A malformed file is a clear error naming it, not a silent default.
    FILE *f = fopen(path, "w");
    CB_CHECK(f != NULL);
    fputs("vendor,device\n\"unterminated\n", f);
    fclose(f);
    CB_CHECK(cb_bench_row(k, &c, 1, &o, &r) == CB_ERR_PARSE);
    CB_CHECK_MSG(strstr(r.note, path), "%.300s", r.note);
    cb_result_free(&r);
    // A bad parameter text in an entry is an error too.
    unlink(path);
    snprintf(e.params, sizeof e.params, "reg:MR=99");
    CB_CHECK(cb_cl_tuning_save(path, &e, 1) == CB_OK);
    CB_CHECK(cb_bench_row(k, &c, 1, &o, &r) == CB_ERR_PARSE);
    cb_result_free(&r);
    unlink(path);
    unsetenv("CHIPBENCH_TUNING");
}

// Device time is recorded from profiling events beside wall time.
static void test_device_time(void)
{
    if (!device_or_skip())
        CB_SKIP("no OpenCL device: %s", cb_error_text());
    const char *names[] = {"gemm_f32_opencl", "gemm_f32_clblast"};
    for (int i = 0; i < 2; i++) {
        const struct cb_kernel *k = cb_registry_find(names[i]);
        if (!k || k->not_built)
            continue;
        struct cb_bench_opts o;
        struct cb_result r;
        struct cb_call c;
        check_quick_opts(&o);
        o.max_time_s = 0.05;
        o.min_samples = 3;
        CB_CHECK(cb_shape_parse("128x128x128", &c) == CB_OK);
        CB_CHECK(cb_bench_row(k, &c, 1, &o, &r) == CB_OK);
        CB_CHECK_MSG(r.device_time_ns > 0 && r.device_time_ns < 10 * r.m.st.max + 1e6,
                     "%s device %g ns, wall median %g ns", names[i], r.device_time_ns,
                     r.m.st.median);
        CB_CHECK(strncmp(r.chip_class, "opencl:", 7) == 0);
        cb_result_free(&r);
    }
}
#endif

int main(void)
{
#if CB_HAVE_OPENCL
    // The user's own tuning file must not steer the tests.
    unsetenv("CHIPBENCH_TUNING");
    setenv("XDG_CACHE_HOME", "/nonexistent-chipbench-test", 1);
    CB_RUN(test_device_kernel_hooks);
    CB_RUN(test_device_resolve);
    CB_RUN(test_params_text);
    CB_RUN(test_variants_all_layouts);
    CB_RUN(test_attn_variants);
    CB_RUN(test_attn_default_choice);
    CB_RUN(test_matrix_ext_detected);
    CB_RUN(test_mma_gemm_emulated);
    CB_RUN(test_build_failure);
    CB_RUN(test_tuning_file);
    CB_RUN(test_device_time);
#else
    printf("SKIP test_opencl: built without OpenCL\n");
    cb_t_skip++;
#endif
    return CB_TEST_END("test_opencl");
}
