/* Shared by readout_kernel.c and nucleus_kernel.c (lmclaims/engine/native_readouts.py builds both into one
   library): the float exp2 of the readouts, the thread launcher, the descending comparator.

   2^x is computed as 2^round(x) * P(f), f = x - round(x) in [-1/2, 1/2], P the degree-7 Taylor
   polynomial of e^(f ln 2) (truncation error < 3e-9 relative, below float rounding); x < -127
   gives 0 and x > 128 gives +inf, as for 2^x in float. NaN propagates. */

#ifndef LMCLAIMS_READOUT_COMMON_H
#define LMCLAIMS_READOUT_COMMON_H

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline float exp2_approx(float x) {
    x = x < -127.0f ? -127.0f : x;
    x = x > 128.0f ? 128.0f : x;
    float xi = rintf(x);
    float f = x - xi;
    float p = 1.5252733804059838e-05f;
    p = fmaf(p, f, 0.00015403530393381606f);
    p = fmaf(p, f, 0.0013333558146428441f);
    p = fmaf(p, f, 0.009618129107628477f);
    p = fmaf(p, f, 0.055504108664821576f);
    p = fmaf(p, f, 0.2402265069591007f);
    p = fmaf(p, f, 0.6931471805599453f);
    p = fmaf(p, f, 1.0f);
    int32_t e = (int32_t)xi + 127;          /* 0 (x = -127: scale 0) .. 255 (x = 128: scale inf) */
    int32_t bits = e << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* Run fn(arg) on the calling thread and on up to nthreads - 1 (at most R - 1, at most 63) more; fn takes
   rows from the job's atomic counter until none is left, so the rows are complete even when a thread
   cannot be started. Returns 0, or 2 when a thread could not be started. */
static int run_threads(void *(*fn)(void *), void *arg, int64_t R, int64_t nthreads) {
    pthread_t th[64];
    int64_t started = 0, want = nthreads - 1;
    if (want > 63) want = 63;
    if (want > R - 1) want = R - 1;
    int rc = 0;
    for (int64_t t = 0; t < want; t++) {
        if (pthread_create(&th[started], NULL, fn, arg) != 0) { rc = 2; break; }
        started++;
    }
    fn(arg);
    for (int64_t t = 0; t < started; t++) pthread_join(th[t], NULL);
    return rc;
}

static int desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

#endif
