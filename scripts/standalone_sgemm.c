// standalone_sgemm.c: an independent cblas_sgemm timing loop, sharing no
// code with the chipbench harness, used to check that the harness adds no
// overhead: `build/tools/standalone_sgemm 1024 1` should report the same
// median as `chipbench run --kernel gemm_f32_openblas --shape 1024x1024x1024
// --threads 1` run back to back.
//
// usage: standalone_sgemm N THREADS [REPS]   (square NN sgemm, alpha 1, beta 0)
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: standalone_sgemm N THREADS [REPS]\n");
        return 2;
    }
    int n = atoi(argv[1]), threads = atoi(argv[2]), reps = argc > 3 ? atoi(argv[3]) : 50;
    if (n < 1 || threads < 1 || reps < 3) {
        fprintf(stderr, "standalone_sgemm: N >= 1, THREADS >= 1, REPS >= 3\n");
        return 2;
    }
    openblas_set_num_threads(threads);
    size_t nn = (size_t)n * n;
    float *a = malloc(nn * 4), *b = malloc(nn * 4), *c = malloc(nn * 4);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!a || !b || !c || !t) {
        fprintf(stderr, "standalone_sgemm: out of memory\n");
        return 1;
    }
    srand(1);
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)rand() / RAND_MAX - 0.5f;
        b[i] = (float)rand() / RAND_MAX - 0.5f;
        c[i] = 0;
    }
    for (int i = 0; i < 3; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                    c, n);
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                    c, n);
        t[i] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    printf("standalone cblas_sgemm n=%d threads=%d reps=%d: median %.4f ms = %.2f GFLOP/s "
           "(min %.4f ms)\n", n, threads, reps, med * 1e3, 2.0 * n * n * n / med * 1e-9,
           t[0] * 1e3);
    free(a);
    free(b);
    free(c);
    free(t);
    return 0;
}
