// stream.cl: the STREAM triad a = b + s * c, VW consecutive floats per
// work-item (vector loads on the aligned body; the last work-item may be
// partial). Built with -D VW=1|4.
__kernel void triad(__global float *restrict a, __global const float *restrict b,
                    __global const float *restrict c, const float s, const ulong n)
{
    const ulong i = (ulong)get_global_id(0) * VW;
#if VW == 4
    if (i + 4 <= n) {
        vstore4(vload4(0, b + i) + s * vload4(0, c + i), 0, a + i);
        return;
    }
#endif
    for (ulong j = i; j < i + VW && j < n; j++)
        a[j] = b[j] + s * c[j];
}
