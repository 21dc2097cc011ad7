/* The top-K search and pass 2 of lmclaims.engine.readouts.multi_readout, each in one parallel region
   (see native_readouts.py). Pass 2:

   For every row r and readout j, over the row's raw logits z (block-major buffer: block i starts
   at dense + R*start[i], row r of it is width[i] contiguous floats):

       uncapped:  a = b[j,r] + k[j]*z
       capped:    s = 1 / (1 + 2^(u[j]*z))          (= sigmoid(2z/c)),   a = b[j,r] + k[j]*s
       S[j,r] = sum 2^a,   U[j,r] = sum a*2^a       (float lanes per 1024-column chunk, summed in double)

   2^x: exp2_approx (readout_common.h). Rows are handed out
   dynamically (an atomic counter) to `nthreads` threads, the caller's included: one region per
   call, no barrier between columns, so a thread that loses its core delays only its own rows.
   Compiled by lmclaims/engine/native_readouts.py (cc -O3 -march=native -fopenmp -fopenmp-simd). */

#include "readout_common.h"

#define CHUNK 1024

typedef struct {
    layout_t L;
    int64_t J;
    const float *k, *u, *b;   /* k[J], u[J] (0 = uncapped), b[J*R] */
    double *S, *U;            /* [J*R] */
    atomic_long next;
} job_t;

/* Pass 2 of row r for J readouts: b_r[j] its offsets; S_r[j], U_r[j] its sums. */
void lm_sums_row(const layout_t *L, int64_t r, int64_t J, const float *kk, const float *uu, const float *b_r,
                 double *S_r, double *U_r) {
    double Sd[MAXJ], Ud[MAXJ];
    for (int64_t j = 0; j < J; j++) Sd[j] = Ud[j] = 0.0;
    for (int64_t i = 0; i < L->nblocks; i++) {
        const int64_t n = L->width[i];
        const float *z = segment(L, i, r);
        for (int64_t c0 = 0; c0 < n; c0 += CHUNK) {
            const int64_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n;
            for (int64_t j = 0; j < J; j++) {
                const float k = kk[j], u = uu[j], b = b_r[j];
                float s = 0.0f, w = 0.0f;
                if (u == 0.0f) {
#pragma omp simd reduction(+ : s, w)
                    for (int64_t c = c0; c < c1; c++) {
                        float a = fmaf(k, z[c], b);
                        float e = exp2_approx(a);
                        s += e;
                        w += a * e;
                    }
                } else {
#pragma omp simd reduction(+ : s, w)
                    for (int64_t c = c0; c < c1; c++) {
                        float sg = 1.0f / (1.0f + exp2_approx(u * z[c]));
                        float a = fmaf(k, sg, b);
                        float e = exp2_approx(a);
                        s += e;
                        w += a * e;
                    }
                }
                Sd[j] += s;
                Ud[j] += w;
            }
        }
    }
    for (int64_t j = 0; j < J; j++) {
        S_r[j] = Sd[j];
        U_r[j] = Ud[j];
    }
}

static void one_row(job_t *jb, int64_t r) {
    const int64_t R = jb->L.R;
    float b_r[MAXJ];
    double S_r[MAXJ], U_r[MAXJ];
    for (int64_t j = 0; j < jb->J; j++) b_r[j] = jb->b[j * R + r];
    lm_sums_row(&jb->L, r, jb->J, jb->k, jb->u, b_r, S_r, U_r);
    for (int64_t j = 0; j < jb->J; j++) {
        jb->S[j * R + r] = S_r[j];
        jb->U[j * R + r] = U_r[j];
    }
}

static void *worker(void *arg) {
    job_t *jb = (job_t *)arg;
    for (;;) {
        int64_t r = atomic_fetch_add(&jb->next, 1);
        if (r >= jb->L.R) break;
        one_row(jb, r);
    }
    return NULL;
}

/* Returns 0 on success, 1 if J exceeds MAXJ, 2 if a thread could not be started (the result is
   still complete). */
int lmclaims_readouts(const float *dense, int64_t R, int64_t nblocks, const int64_t *start, const int64_t *width,
                      int64_t J, const float *k, const float *u, const float *b, double *S, double *U,
                      int64_t nthreads) {
    if (J > MAXJ) return 1;
    job_t jb = {{dense, R, nblocks, start, width}, J, k, u, b, S, U, 0};
    atomic_init(&jb.next, 0);
    return run_threads(worker, &jb, R, nthreads);
}

/* Top-K values of every row of the block-major buffer (as for the readouts), descending, into out [R, K]
   (-inf where a row has fewer than K non-NaN values; NaN never enters). */
typedef struct {
    layout_t L;
    int64_t K;
    float *out;
    atomic_long next;
    atomic_int failed;
} topk_t;

/* Rearrange a[0..n) so that a[0..k) hold its k largest values (Hoare quickselect, no NaN in a). */
static void select_top(float *a, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], w = a[hi];          /* median of three */
        float pivot = x > y ? (y > w ? y : (x > w ? w : x)) : (x > w ? x : (y > w ? w : y));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] > pivot) i++;
            while (a[j] < pivot) j--;
            if (i <= j) { float t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

static inline uint32_t key_of(float f) {          /* order-preserving: f < g  <=>  key_of(f) < key_of(g) */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u ^ ((uint32_t)((int32_t)u >> 31) | 0x80000000u);
}

static inline float float_of(uint32_t k) {
    uint32_t u = k & 0x80000000u ? k ^ 0x80000000u : ~k;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* A lower bound t of the K-th largest of v[0..n) (n > K, no NaN) with at least K values >= t: the lower
   edge of the bucket of the top 16 key bits (sign, exponent, 7 mantissa bits: < 1 % wide) holding it,
   by two 256-bucket histograms (radix select). -inf when that edge is not a number (the -inf bucket). */
static float kth_lower_bound(const float *v, int64_t n, int64_t K, uint32_t *keys) {
    int64_t h[256] = {0}, above = 0;
    for (int64_t i = 0; i < n; i++) {
        keys[i] = key_of(v[i]);
        h[keys[i] >> 24]++;
    }
    uint32_t b1 = 255;
    while (above + h[b1] < K) above += h[b1--];
    memset(h, 0, sizeof h);
    for (int64_t i = 0; i < n; i++)
        if (keys[i] >> 24 == b1) h[(keys[i] >> 16) & 255]++;
    uint32_t b2 = 255;
    while (above + h[b2] < K) above += h[b2--];
    const float t = float_of(b1 << 24 | b2 << 16);
    return t == t ? t : -INFINITY;
}


/* One row, given as segments (block i: width[i] contiguous values at dense + R*start[i] + r*width[i]):
   the maxima of groups of GS columns (within a segment); t0 = a lower bound of the K-th largest group
   maximum (kth_lower_bound), so a lower bound of the row's K-th largest value (K groups each hold a
   value >= t0); only groups whose maximum reaches t0 are scanned, their values >= t0 collected and
   cut to the K largest. */
void lm_topk_row(const layout_t *L, int64_t K, int64_t r, float *gmax, uint32_t *tmp, float *buf, float *o) {
    int64_t G = 0;
    for (int64_t i = 0; i < L->nblocks; i++) {
        const int64_t n = L->width[i];
        const float *seg = segment(L, i, r);
        for (int64_t c0 = 0; c0 < n; c0 += GS) {
            const int64_t c1 = c0 + GS < n ? c0 + GS : n;
            float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
            for (int64_t c = c0; c < c1; c++) mx = seg[c] > mx ? seg[c] : mx;
            gmax[G++] = mx;
        }
    }
    const float t0 = G > K ? kth_lower_bound(gmax, G, K, tmp) : -INFINITY;
    int64_t fill = 0, g = 0;
    for (int64_t i = 0; i < L->nblocks; i++) {
        const int64_t n = L->width[i];
        const float *seg = segment(L, i, r);
        for (int64_t c0 = 0; c0 < n; c0 += GS, g++) {
            if (!(gmax[g] >= t0)) continue;
            const int64_t c1 = c0 + GS < n ? c0 + GS : n;
            for (int64_t c = c0; c < c1; c++)
                if (seg[c] >= t0) buf[fill++] = seg[c];
        }
    }
    if (fill > K) select_top(buf, fill, K);
    const int64_t m = fill < K ? fill : K;
    sort_desc(buf, m);
    for (int64_t j = 0; j < K; j++) o[j] = j < m ? buf[j] : -INFINITY;
}

static void *topk_worker(void *arg) {
    topk_t *jb = (topk_t *)arg;
    int64_t V, G;
    layout_sizes(&jb->L, &V, &G);
    float *gmax = malloc(sizeof(float) * G), *buf = malloc(sizeof(float) * V);
    uint32_t *tmp = malloc(sizeof(uint32_t) * G);
    if (!gmax || !tmp || !buf) {
        atomic_store(&jb->failed, 1);
    } else {
        for (;;) {
            int64_t r = atomic_fetch_add(&jb->next, 1);
            if (r >= jb->L.R) break;
            lm_topk_row(&jb->L, jb->K, r, gmax, tmp, buf, jb->out + r * jb->K);
        }
    }
    free(gmax);
    free(tmp);
    free(buf);
    return NULL;
}

int lmclaims_topk(const float *dense, int64_t R, int64_t nblocks, const int64_t *start, const int64_t *width,
                  int64_t K, float *out, int64_t nthreads) {
    if (K < 1) return 1;
    topk_t jb = {{dense, R, nblocks, start, width}, K, out, 0, 0};
    atomic_init(&jb.next, 0);
    atomic_init(&jb.failed, 0);
    run_threads(topk_worker, &jb, R, nthreads);
    return atomic_load(&jb.failed) ? 3 : 0;
}

int lmclaims_readouts_abi(void) { return 5; }
