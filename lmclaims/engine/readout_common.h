/* Shared by readout_kernel.c, nucleus_kernel.c and fused_kernel.c (lmclaims/engine/native_readouts.py builds
   them into one library): the buffer layout, the float exp2 of the readouts, the thread launcher, the
   descending sort, and the row functions the fused region calls.

   2^x is computed as 2^round(x) * P(f), f = x - round(x) in [-1/2, 1/2], P a degree-6 near-minimax
   polynomial of 2^f (relative error < 7e-9, below float rounding; fitted by reweighted least squares
   on Chebyshev nodes), evaluated by Estrin's scheme (depth 4 instead of Horner's 6: the loops are
   bound by the FP scheduler's window, 6 % faster); x < -127 gives 0 and x > 128 gives +inf, as for
   2^x in float. NaN propagates. */

#ifndef LMCLAIMS_READOUT_COMMON_H
#define LMCLAIMS_READOUT_COMMON_H

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* A block-major buffer of R rows: block i starts at dense + R*start[i], and row r of it is width[i]
   contiguous floats there (one block: row-major). */
typedef struct {
    const float *dense;
    int64_t R, nblocks;
    const int64_t *start, *width;
} layout_t;

#define MAXJ 16        /* readouts per call */
#define GS 32          /* group width of the top-K filter */
#define NBO 16         /* nucleus bins per octave of a */
#define NB (NBO * 64)  /* nucleus bins */
#define HCOPIES 4      /* interleaved copies of the nucleus histogram */

static inline const float *segment(const layout_t *L, int64_t i, int64_t r) {
    return L->dense + L->R * L->start[i] + r * L->width[i];
}

/* The row's total width V and its number of top-K filter groups (GS columns, within a block). */
static inline void layout_sizes(const layout_t *L, int64_t *V, int64_t *G) {
    *V = *G = 0;
    for (int64_t i = 0; i < L->nblocks; i++) {
        *V += L->width[i];
        *G += (L->width[i] + GS - 1) / GS;
    }
}

static inline float exp2_approx(float x) {
    x = x < -127.0f ? -127.0f : x;
    x = x > 128.0f ? 128.0f : x;
    float xi = rintf(x);
    float f = x - xi;
    const float f2 = f * f;                                             /* Estrin: a short dependency chain */
    const float p01 = fmaf(0.693147196161175f, f, 1.0000000016027493f);
    const float p23 = fmaf(0.05550347350757872f, f, 0.2402263739134559f);
    const float p46 = fmaf(fmaf(0.00014990888456751093f, f, 0.0013393083527547505f), f, 0.009619673461305243f);
    const float p = fmaf(fmaf(p46, f2, p23), f2, p01);
    int32_t e = (int32_t)xi + 127;          /* 0 (x = -127: scale 0) .. 255 (x = 128: scale inf) */
    int32_t bits = e << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* Run fn(arg) on nthreads threads (at most R, at most 64), the caller's included; fn takes rows from the
   job's atomic counter until none is left, so the rows are complete whatever number of threads runs.
   Built with -fopenmp (native_readouts.py tries it first): one parallel region of the OpenMP runtime
   already loaded in the process (torch's libgomp, same soname), so the kernel runs on torch's own
   worker threads; started as new pthreads instead, it competed for the cores with those workers,
   which spin for milliseconds after every torch op (topk 7.2 ms right after a GEMM vs 4.3 ms after a
   pause, 2 cores). A thread out of rows sleeps (20 µs naps) until the others are done rather than
   spin at the region's barrier: on a loaded machine the spinning thread took the core from the one
   still holding a row. Without OpenMP: pthreads. Returns 0, or 2 when a pthread could not be started. */
static int run_threads(void *(*fn)(void *), void *arg, int64_t R, int64_t nthreads) {
    int64_t want = nthreads < R ? nthreads : R;
    if (want > 64) want = 64;
    if (want < 1) want = 1;
#ifdef _OPENMP
    atomic_int done;
    atomic_init(&done, 0);
#pragma omp parallel num_threads((int)want)
    {
        fn(arg);
        atomic_fetch_add(&done, 1);            /* out of rows: sleep, not spin, until the others are done */
        const struct timespec nap = {0, 20000};
        while (atomic_load(&done) < omp_get_num_threads()) nanosleep(&nap, NULL);
    }
    return 0;
#else
    pthread_t th[64];
    int64_t started = 0;
    int rc = 0;
    for (int64_t t = 0; t < want - 1; t++) {
        if (pthread_create(&th[started], NULL, fn, arg) != 0) { rc = 2; break; }
        started++;
    }
    fn(arg);
    for (int64_t t = 0; t < started; t++) pthread_join(th[t], NULL);
    return rc;
#endif
}

/* Sort a[0..n) descending (no NaN in a): quicksort, insertion sort below 16 elements. */
static void sort_desc(float *a, int64_t n) {
    while (n > 16) {
        float x = a[0], y = a[n / 2], w = a[n - 1];
        float pivot = x > y ? (y > w ? y : (x > w ? w : x)) : (x > w ? x : (y > w ? w : y));
        int64_t i = 0, j = n - 1;
        while (i <= j) {
            while (a[i] > pivot) i++;
            while (a[j] < pivot) j--;
            if (i <= j) { float t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
        }
        if (j + 1 < n - i) { sort_desc(a, j + 1); a += i; n -= i; }      /* recurse on the smaller side */
        else { sort_desc(a + i, n - i); n = j + 1; }
    }
    for (int64_t i = 1; i < n; i++) {
        float v = a[i];
        int64_t j = i;
        for (; j > 0 && a[j - 1] < v; j--) a[j] = a[j - 1];
        a[j] = v;
    }
}

/* Row functions shared by the kernels (one library; hidden outside it). */
#define LM_HIDDEN __attribute__((visibility("hidden")))
LM_HIDDEN void lm_sums_row(const layout_t *L, int64_t r, int64_t J, const float *kk, const float *uu, const float *b_r,
                           double *S_r, double *U_r);                                 /* readout_kernel.c */
LM_HIDDEN void lm_topk_row(const layout_t *L, int64_t K, int64_t r, float *gmax, uint32_t *tmp, float *buf,
                           float *o);                                                  /* readout_kernel.c */
LM_HIDDEN void lm_nucleus_row(const layout_t *L, int64_t r, float k, float u, float b, double top_p, float *abuf,
                              float *band, double *hist, double *out);                /* nucleus_kernel.c */

#endif
