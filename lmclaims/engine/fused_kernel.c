/* A whole CPU readout of lmclaims.engine.readouts.multi_readout after its GEMM, as ONE parallel region
   (native_readouts.readout): per row r, in order,

     1. the K largest raw logits, descending (lm_topk_row, as lmclaims_topk); m = the largest;
     2. each readout's offset b, with _Shift's formula in double, rounded once to float:
          uncapped  b = -kb * m,            capped  b = -(c + c * tanh(m / c)) * kb
        (kb = log2(e) / T, c the cap);
     3. pass 2: S and U of every readout (lm_sums_row, as lmclaims_readouts);
     4. for each readout j with top_p[j] > 0: the mass of the top-K, sum 2^a(top) / S (double), and when
        it falls short of top_p[j] + margin, the row's top-p nucleus (lm_nucleus_row, as
        lmclaims_nucleus), marked done[j, r]. The margin (1e-4) is far above the rounding by which the
        caller's own top-K mass (float32 log-probs) can differ, so every row the caller finds short has
        its nucleus here.

   Why one region: on a loaded machine each parallel region's end waits for a team thread that lost its
   core (up to a scheduler slice, milliseconds); three regions per readout (top-K, pass 2, nucleus) paid
   that three times (native_readouts.py). Results are identical to the three separate calls. */

#include "readout_common.h"

typedef struct {
    layout_t L;
    int64_t K, J;
    const float *k, *u;                     /* [J] pass 2's slope and cap factor (0 = uncapped) */
    const double *kb, *cap, *top_p;         /* [J] b's slope, cap c (0 = none), top_p (0 = no nucleus) */
    double margin;
    float *top, *b;                         /* [R, K], [J, R] */
    double *S, *U, *nuc;                    /* [J, R], [J, R], [J, 3, R] (mass, count, plogp) */
    uint8_t *done;                          /* [J, R] */
    int nucleus;                            /* any top_p > 0 */
    atomic_long next;
    atomic_int failed;
} fused_t;

static void fused_row(fused_t *jb, int64_t r, float *gmax, uint32_t *tmp, float *buf, float *abuf, double *hist) {
    const int64_t R = jb->L.R, K = jb->K, J = jb->J;
    float *top = jb->top + r * K;
    lm_topk_row(&jb->L, K, r, gmax, tmp, buf, top);
    const double m = (double)top[0];
    float b_r[MAXJ];
    double S_r[MAXJ], U_r[MAXJ];
    for (int64_t j = 0; j < J; j++) {
        const double c = jb->cap[j];
        b_r[j] = c > 0.0 ? (float)(-(c + c * tanh(m / c)) * jb->kb[j]) : (float)(-jb->kb[j] * m);
        jb->b[j * R + r] = b_r[j];
    }
    lm_sums_row(&jb->L, r, J, jb->k, jb->u, b_r, S_r, U_r);
    for (int64_t j = 0; j < J; j++) {
        jb->S[j * R + r] = S_r[j];
        jb->U[j * R + r] = U_r[j];
        jb->done[j * R + r] = 0;
        if (!(jb->top_p[j] > 0.0)) continue;
        const float k = jb->k[j], u = jb->u[j];
        double e = 0.0;
        for (int64_t i = 0; i < K; i++) {
            if (!(top[i] > -INFINITY)) continue;                          /* padding of a short row */
            const float a = u == 0.0f ? fmaf(k, top[i], b_r[j]) : fmaf(k, 1.0f / (1.0f + exp2_approx(u * top[i])), b_r[j]);
            e += exp2((double)a);
        }
        if (e / S_r[j] >= jb->top_p[j] + jb->margin) continue;            /* the top-K settles it (NaN: not) */
        double out[3];
        lm_nucleus_row(&jb->L, r, k, u, b_r[j], jb->top_p[j], abuf, buf, hist, out);
        for (int q = 0; q < 3; q++) jb->nuc[(j * 3 + q) * R + r] = out[q];
        jb->done[j * R + r] = 1;
    }
}

static void *fused_worker(void *arg) {
    fused_t *jb = (fused_t *)arg;
    int64_t V, G;
    layout_sizes(&jb->L, &V, &G);
    float *gmax = malloc(sizeof(float) * G), *buf = malloc(sizeof(float) * V);
    uint32_t *tmp = malloc(sizeof(uint32_t) * G);
    float *abuf = jb->nucleus ? malloc(sizeof(float) * V) : NULL;
    double *hist = jb->nucleus ? malloc(sizeof(double) * NB * HCOPIES) : NULL;
    if (!gmax || !tmp || !buf || (jb->nucleus && (!abuf || !hist))) {
        atomic_store(&jb->failed, 1);
    } else {
        for (;;) {
            int64_t r = atomic_fetch_add(&jb->next, 1);
            if (r >= jb->L.R) break;
            fused_row(jb, r, gmax, tmp, buf, abuf, hist);
        }
    }
    free(gmax);
    free(buf);
    free(tmp);
    free(abuf);
    free(hist);
    return NULL;
}

/* Returns 0; 1 if J is not in [1, MAXJ] or K < 1; 3 if a row buffer could not be allocated. */
int lmclaims_readout(const float *dense, int64_t R, int64_t nblocks, const int64_t *start, const int64_t *width,
                     int64_t K, int64_t J, const float *k, const float *u, const double *kb, const double *cap,
                     const double *top_p, double margin, float *top, float *b, double *S, double *U, double *nuc,
                     uint8_t *done, int64_t nthreads) {
    if (J < 1 || J > MAXJ || K < 1) return 1;
    int any = 0;
    for (int64_t j = 0; j < J; j++) any |= top_p[j] > 0.0;
    fused_t jb = {{dense, R, nblocks, start, width}, K, J, k, u, kb, cap, top_p, margin, top, b, S, U, nuc, done,
                  any, 0, 0};
    atomic_init(&jb.next, 0);
    atomic_init(&jb.failed, 0);
    run_threads(fused_worker, &jb, R, nthreads);
    return atomic_load(&jb.failed) ? 3 : 0;
}
