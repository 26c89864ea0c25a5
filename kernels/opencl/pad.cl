// pad.cl: copy a row-major matrix into a zero-padded (and optionally
// transposed) row-major buffer, so GEMM kernels that need tile-multiple,
// aligned operands can take any shape. Runs inside the timed call: the cost
// of handling an awkward shape is part of the kernel's time, and the padded
// zeros are never counted as useful FLOPs (the harness declares 2mnk).
//
//   dst (drows, dcols) with row stride ldd:
//     dst[r][c] = src[r][c]            (TRANS=0, src (rows, cols), stride ld)
//     dst[r][c] = src[c][r]            (TRANS=1, src (cols, rows), stride ld)
//     0 outside rows x cols
// Not a general transpose kernel: transposed reads are strided (fine on CPU
// devices, which is where the packed path uses them).
__kernel void pad_copy(__global const float *restrict src, int ld, int rows, int cols,
                       int trans, __global float *restrict dst, int ldd)
{
    const int c = get_global_id(0), r = get_global_id(1);
    float v = 0.0f;
    if (r < rows && c < cols)
        v = trans ? src[(size_t)c * ld + r] : src[(size_t)r * ld + c];
    dst[(size_t)r * ldd + c] = v;
}

// The same for IEEE half storage (f16 GEMM): pad_copy_h copies halves,
// pad_copy_hf widens them to f32 (the f16 GEMM's packing step on CPU
// devices, where the register-tile kernel then runs on f32 panels: a CPU
// converts once per element here instead of once per use in the inner
// loop). vload_half and vstore_half are core OpenCL, so no cl_khr_fp16 is
// needed; a half read and written back through float is exact.
#define PAD_FROM_HALF(name, DST_T, STORE)                                                  \
    __kernel void name(__global const half *restrict src, int ld, int rows, int cols,      \
                       int trans, __global DST_T *restrict dst, int ldd)                   \
    {                                                                                      \
        const int c = get_global_id(0), r = get_global_id(1);                              \
        float v = 0.0f;                                                                    \
        if (r < rows && c < cols)                                                          \
            v = vload_half(trans ? (size_t)c * ld + r : (size_t)r * ld + c, src);          \
        STORE(v, (size_t)r * ldd + c, dst);                                                \
    }
#define STORE_HALF(v, i, p) vstore_half((v), (i), (p))
#define STORE_FLOAT(v, i, p) ((p)[i] = (v))
PAD_FROM_HALF(pad_copy_h, half, STORE_HALF)
PAD_FROM_HALF(pad_copy_hf, float, STORE_FLOAT)

// The same for any 16-bit storage copied bit for bit (bf16 for the
// matrix-unit GEMM: no conversion touches the values).
__kernel void pad_copy_u16(__global const ushort *restrict src, int ld, int rows, int cols,
                           int trans, __global ushort *restrict dst, int ldd)
{
    const int c = get_global_id(0), r = get_global_id(1);
    ushort v = 0;
    if (r < rows && c < cols)
        v = trans ? src[(size_t)c * ld + r] : src[(size_t)r * ld + c];
    dst[(size_t)r * ldd + c] = v;
}
