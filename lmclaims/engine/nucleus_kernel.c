/* The exact top-p nucleus of lens rows (lmclaims.probes.lens; native_readouts.nucleus), one parallel
   region over the rows, as readout_kernel.c. */

#include "readout_common.h"

/* The top-p nucleus of the rows `rows[0..H)` under one readout (k, u, b as for pass 2): per row, with
   a_i its base-2 log-weights (pass 2's operations) and e_i = 2^a_i (the same exp2), S = sum e (double),
   p_i = e_i / S, the nucleus is the n elements of largest a, n the smallest count whose cumulative e
   (double, in descending a) reaches top_p * S. Out: mass = sum_nucleus e / S, count = n,
   plogp = sum_nucleus p * ln p = ln2 * (sum e*a - log2(S) * sum e) / S.
   How: e summed (double) into NB bins of 1/NBO octave of a (bin = floor(-a*NBO), clamped to
   [0, NB-1]; HCOPIES interleaved copies, so that consecutive elements rarely wait on the same sum);
   the crossing bin g is the first whose cumulative sum reaches top_p * S; the nucleus is the bins
   before g and the largest elements of g (sorted), taken until the sum reaches top_p * S. The bin
   sums are exact (double) sums of their elements, so nothing is estimated; when rounding leaves the
   whole row short of top_p * S, the nucleus is the whole row. A row whose S is not finite and
   positive (NaN or +inf logits) gets NaN. */

typedef struct {
    layout_t L;
    int64_t H;
    const int64_t *rows;
    float k, u;
    const float *b;
    double top_p;
    double *mass, *count, *plogp;
    atomic_long next;
    atomic_int failed;
} nucleus_t;

static inline int32_t bin_of(float a) {                             /* NaN: 0 (S is NaN then) */
    float x = -a * (float)NBO;
    x = x > 0.0f ? x : 0.0f;
    x = x < (float)(NB - 1) ? x : (float)(NB - 1);
    return (int32_t)x;
}

#define NCH 256         /* elements per chunk of the nucleus passes (e and bins in L1) */

void lm_nucleus_row(const layout_t *L, int64_t r, float k, float u, float b, double top_p, float *abuf, float *band,
                    double *hist, double *out) {
    float et[NCH];
    int32_t it[NCH];
    int64_t V = 0;
    double S = 0.0;
    memset(hist, 0, sizeof(double) * NB * HCOPIES);
    for (int64_t i = 0; i < L->nblocks; i++) {                         /* pass A: a, S and the bin sums */
        const int64_t n = L->width[i];
        const float *z = segment(L, i, r);
        for (int64_t c0 = 0; c0 < n; c0 += NCH) {
            const int64_t m = n - c0 < NCH ? n - c0 : NCH;
            float *ab = abuf + V + c0;
            if (u == 0.0f) {
#pragma omp simd
                for (int64_t c = 0; c < m; c++) ab[c] = fmaf(k, z[c0 + c], b);
            } else {
#pragma omp simd
                for (int64_t c = 0; c < m; c++) ab[c] = fmaf(k, 1.0f / (1.0f + exp2_approx(u * z[c0 + c])), b);
            }
#pragma omp simd reduction(+ : S)
            for (int64_t c = 0; c < m; c++) {
                et[c] = exp2_approx(ab[c]);
                it[c] = bin_of(ab[c]);
                S += (double)et[c];
            }
            int64_t c = 0;
            for (; c + HCOPIES <= m; c += HCOPIES)
                for (int h = 0; h < HCOPIES; h++) hist[h * NB + it[c + h]] += (double)et[c + h];
            for (; c < m; c++) hist[it[c]] += (double)et[c];
        }
        V += n;
    }
    if (!(S > 0.0) || !(S <= 1.7976931348623157e308)) {
        out[0] = out[1] = out[2] = NAN;
        return;
    }
    const double T = top_p * S;
    double cm = 0.0;
    int32_t g = 0;
    for (; g < NB - 1; g++) {                                           /* bins wholly inside */
        double h = 0.0;
        for (int c = 0; c < HCOPIES; c++) h += hist[c * NB + g];
        if (cm + h >= T) break;
        cm += h;
    }
    double cw = 0.0;
    int64_t cn = 0, nb = 0;
    for (int64_t c0 = 0; c0 < V; c0 += NCH) {                           /* pass B: Σ e·a and the count */
        const int64_t m = V - c0 < NCH ? V - c0 : NCH;                 /* inside, the crossing bin's a */
        const float *ab = abuf + c0;
#pragma omp simd
        for (int64_t c = 0; c < m; c++) it[c] = bin_of(ab[c]);
        float w = 0.0f;
        int32_t cnt = 0, any = 0;
#pragma omp simd reduction(+ : w, cnt, any)
        for (int64_t c = 0; c < m; c++) {
            const float a = ab[c] > -1e30f ? ab[c] : 0.0f;             /* (a = -inf: e = 0, e·a = 0) */
            const float e = exp2_approx(ab[c]);
            w += it[c] < g ? e * a : 0.0f;
            cnt += it[c] < g;
            any += it[c] == g;
        }
        cw += w;
        cn += cnt;
        if (any)
            for (int64_t c = 0; c < m; c++)
                if (it[c] == g) band[nb++] = ab[c];
    }
    sort_desc(band, nb);
    int64_t j = 0;
    while (j < nb && cm < T) {                                          /* the crossing bin, a descending */
        const double e = (double)exp2_approx(band[j]);
        cm += e;
        cw += e > 0.0 ? e * (double)band[j] : 0.0;
        j++;
    }
    out[0] = cm / S;
    out[1] = (double)(cn + j);
    out[2] = 0.6931471805599453 * (cw - log2(S) * cm) / S;
}

static void *nucleus_worker(void *arg) {
    nucleus_t *jb = (nucleus_t *)arg;
    int64_t V, G;
    layout_sizes(&jb->L, &V, &G);
    float *abuf = malloc(sizeof(float) * V), *band = malloc(sizeof(float) * V);
    double *hist = malloc(sizeof(double) * NB * HCOPIES);
    if (!abuf || !band || !hist) {
        atomic_store(&jb->failed, 1);
    } else {
        for (;;) {
            int64_t h = atomic_fetch_add(&jb->next, 1);
            if (h >= jb->H) break;
            double out[3];
            const int64_t r = jb->rows[h];
            lm_nucleus_row(&jb->L, r, jb->k, jb->u, jb->b[r], jb->top_p, abuf, band, hist, out);
            jb->mass[h] = out[0];
            jb->count[h] = out[1];
            jb->plogp[h] = out[2];
        }
    }
    free(abuf);
    free(band);
    free(hist);
    return NULL;
}

/* Returns 0, or 3 when a row buffer could not be allocated. */
int lmclaims_nucleus(const float *dense, int64_t R, int64_t nblocks, const int64_t *start, const int64_t *width,
                     int64_t H, const int64_t *rows, float k, float u, const float *b, double top_p, double *mass,
                     double *count, double *plogp, int64_t nthreads) {
    nucleus_t jb = {{dense, R, nblocks, start, width}, H, rows, k, u, b, top_p, mass, count, plogp, 0, 0};
    atomic_init(&jb.next, 0);
    atomic_init(&jb.failed, 0);
    if (H > 0) run_threads(nucleus_worker, &jb, H, nthreads);
    return atomic_load(&jb.failed) ? 3 : 0;
}
