// attention_tc.cu: flash attention on tensor cores for float16 or bfloat16 q, k, v with head dim D == 64 or 128.
//
// Same math, layouts, outputs and entry-point signatures as the f16 / bf16 kernels of attention.cu (read its
// header for the algorithm); the launcher (tensorgrad/backend/cuda.py) uses these for float16 and bfloat16
// with D in (64, 128) unless TENSORGRAD_ATTN_TC=0. The runtime D argument is only there to keep the
// signatures identical: these kernels are compiled for D == DH and the launcher never passes another D.
// Inputs must be 16-byte aligned (cp.async); the launcher checks and otherwise uses attention.cu.
//
// T = __half or __nv_bfloat16 (entry points _f16_ / _bf16_; "fp16" below means T). The two differ only in the
// mma instruction (.f16 / .bf16 inputs, both sm_80+) and the float -> T pair conversion (tc_pack, tc_store2);
// ldmatrix and cp.async move 16-bit words and do not care which.
// Matmuls are mma.sync.m16n8k16 (fp16 inputs, fp32 accumulation), FlashAttention-2 style: accumulators
// and softmax statistics stay in registers, and the fp32 C fragment of one mma is re-packed to fp16 in
// registers as the A fragment of the next (S -> P for P V; S^T -> P^T, dS^T for dV, dK), which works
// because the C layout of two adjacent n8 tiles equals the A layout of one k16 slice. Operands come
// from shared memory through ldmatrix (.trans where the matrix is stored k-major), which needs no
// per-element shuffling. Tiles are copied global -> shared with cp.async (16 B, zero-fill past the last
// row, so tails need no special loads), overlapping the next tile's copy with the current math.
// Shared tiles are fp16 with rows padded by 8 halves (16 B): the 8 row addresses of one ldmatrix then
// fall in 8 different 16-byte bank groups (no conflicts) without an XOR swizzle.
// Precision: P and dS are rounded to fp16 as mma inputs (as FlashAttention-2 does); every sum, the softmax
// statistics and dQ are float32, so results differ from attention.cu only at fp16 rounding level
// (bf16: 8 significant bits, so about 8x the float16 differences).
// mma fragment notation below: g = lane / 4, t = lane % 4; a thread holds C rows g and g + 8, columns
// 2t and 2t + 1 of each n8 tile.
//
// Forward: one block of 4 warps per (b*h, BM = 64 query rows); warp w owns query rows 16w..16w+15,
// so row max / row sum reduce over the 4 lanes sharing g (two shuffles). Key tiles of BN = 64.
//   Q (BM x D) is loaded once and kept as A fragments in registers; K and V tiles are single-buffered
//   but interleaved: V_j is copied while S = Q K_j^T and the softmax run, K_{j+1} while O += P V_j.
//   Softmax in base 2 (s * scale * log2 e, ex2.approx); lse = (m + log2 l) * ln 2, natural log as in
//   attention.cu. l is kept per thread and reduced once at the end (it is linear in p).
//   Shared memory: (BM + 2 BN) * (D + 8) * 2 bytes = 27648 (D = 64), 52224 (D = 128, opt-in).
//
// Backward: one block of 4 warps per (b*h, BN = 64 keys), looping over query tiles of BM rows
// (BM = 64 for D = 64, 32 for D = 128: keeps dK, dV (D floats per thread together) plus S^T, dP^T in
// registers without spills). Warp w owns keys 16w..16w+15, so it computes S^T = K Q^T and
// dP^T = V dO^T directly (its rows are its keys) and dV += P^T dO, dK += dS^T Q from its own registers.
// dQ = dS K needs all keys: dS^T goes to shared memory (fp16) and the BM x D dQ tile is split over the
// warps (16 rows x 64 dims each), added into float32 dq_acc with atomics (red.global.add.v2.f32 on
// sm_90). Q, dO, lse, delta are double-buffered: tile i + 1 is copied while tile i is processed.
//   Shared memory: (2 BN (D + 8) + 4 BM (D + 8) + BN (BM + 8)) * 2 + 4 BM * 4 bytes
//                  = 65536 (D = 64, BM = 64), 75264 (D = 128, BM = 32); both need the opt-in.
// Tiles (D, BM, BN): forward (64, 64, 64), (128, 64, 64); backward (64, 64, 64), (128, 32, 64).
//
// Dropout (drop_thr > 0), as attention.cu and csrc/common/philox.h define it: element (bh, query i, key j) is kept iff
// tg_attn_dropout_keep, so the mask is bit for bit the one of attention.cu, the CPU kernels and the reference.
// Forward: l sums the undropped P, P V uses P o keep (fp16), out = O * keep_scale / l; lse is unchanged.
// Backward: the mask is drawn again; dV += (P o keep)^T dO (dV * keep_scale at the end), dS = P o (Z o dP - delta)
// * scale with Z = keep * keep_scale, so dK and dQ see Z through dS. One Philox call gives one key column of four
// consecutive query rows (words i % 4): in forward those rows belong to the four lanes g = 4a..4a+3 of one t, each
// drawing a quarter of the calls (tc_fwd_keep), in backward to the two lanes t, t ^ 1 of one g (tc_bwd_keep); the
// lanes swap the words' keep bits by shuffles. The bits are drawn before the tile's first mma, while the S
// accumulators are not yet live. drop_thr == 0 skips all of it and gives the bits of the dropout-free kernels.
#include "common.cuh"
#include "../common/philox.h"

#define TG_TC_WARPS 4
#define TG_TC_THREADS (TG_TC_WARPS * TG_WARP)
#define TG_TC_LOG2E 1.4426950408889634f
#define TG_TC_LN2 0.6931471805599453f

// ------------------------------------------------------------------------------------ PTX wrappers
__device__ __forceinline__ unsigned tc_smem_addr(const void* p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, bypassing L1 (.cg: tiles are reused from shared memory, not L1).
// src_bytes = 0 writes zeros without reading: rows past the end of the sequence.
__device__ __forceinline__ void tc_cp_async16(void* dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(tc_smem_addr(dst)), "l"(src),
                 "r"(src_bytes)
                 : "memory");
}
__device__ __forceinline__ void tc_cp_async4(void* dst, const void* src, int src_bytes) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(tc_smem_addr(dst)), "l"(src),
                 "r"(src_bytes)
                 : "memory");
}
__device__ __forceinline__ void tc_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void tc_cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

// Four 8x8 b16 matrices; lane l supplies the row address for matrix l / 8, row l % 8.
__device__ __forceinline__ void tc_ldmatrix_x4(unsigned r[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(tc_smem_addr(p))
                 : "memory");
}
__device__ __forceinline__ void tc_ldmatrix_x4_trans(unsigned r[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(tc_smem_addr(p))
                 : "memory");
}

// c (16x8 f32) += a (16x16 T, row) * b (16x8 T, col)
template <typename T>
__device__ __forceinline__ void tc_mma(float c[4], const unsigned a[4], unsigned b0, unsigned b1);
template <>
__device__ __forceinline__ void tc_mma<__half>(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void tc_mma<__nv_bfloat16>(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats -> one T x 2 register (round to nearest even); x goes to the low half (the lower column index in a
// fragment).
template <typename T>
__device__ __forceinline__ unsigned tc_pack(float x, float y);
template <>
__device__ __forceinline__ unsigned tc_pack<__half>(float x, float y) {
    __half2 h = __floats2half2_rn(x, y);
    return *reinterpret_cast<unsigned*>(&h);
}
template <>
__device__ __forceinline__ unsigned tc_pack<__nv_bfloat16>(float x, float y) {
    __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
    return *reinterpret_cast<unsigned*>(&h);
}

// 2^x; ex2.approx(-inf) = +0, which is what makes masked scores vanish.
__device__ __forceinline__ float tc_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

// p[0] += a, p[1] += b. One 8-byte reduction on sm_90 (PTX 8.1+) halves the atomic traffic of dQ.
__device__ __forceinline__ void tc_atomic_add2(float* p, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && \
    (__CUDACC_VER_MAJOR__ > 12 || (__CUDACC_VER_MAJOR__ == 12 && __CUDACC_VER_MINOR__ >= 1))
    asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" ::"l"(p), "f"(a), "f"(b) : "memory");
#else
    atomicAdd(p, a);
    atomicAdd(p + 1, b);
#endif
}

// p[0] = x, p[1] = y (one 4-byte store).
__device__ __forceinline__ void tc_store2(__half* p, float x, float y) {
    *reinterpret_cast<__half2*>(p) = __floats2half2_rn(x, y);
}
__device__ __forceinline__ void tc_store2(__nv_bfloat16* p, float x, float y) {
    *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(x, y);
}

// ROWS x D tile of an (nrows, D) fp16 matrix starting at row r0 -> shared (row stride D + 8), rows >= nrows
// zero-filled. Issued by all TG_TC_THREADS threads; the caller commits and waits.
template <int ROWS, int D, typename T>
__device__ __forceinline__ void tc_load_tile(T* dst, const T* __restrict__ src, int r0, int nrows) {
    constexpr int CPR = D / 8;                             // 16-byte chunks per row
    constexpr int N = ROWS * CPR;
    static_assert(N % TG_TC_THREADS == 0, "tile chunks must split evenly over the block");
#pragma unroll
    for (int it = 0; it < N / TG_TC_THREADS; ++it) {
        const int i = threadIdx.x + it * TG_TC_THREADS;
        const int r = i / CPR, c = (i % CPR) * 8;
        const bool ok = r0 + r < nrows;
        tc_cp_async16(dst + r * (D + 8) + c, ok ? src + (long long)(r0 + r) * D + c : src, ok ? 16 : 0);
    }
}

// ------------------------------------------------------------------------------------------ dropout
// Forward: keep bits of this thread's elements of a 64-key S tile (query rows row0, row0 + 8; keys k0 + 8n + 2t + b):
// bit 8 (n % 4) + 4 h + 2 (n / 4) + b for s[n][2h + b]. Rows 4a..4a+3 (a = row / 4, the Philox call's four words) are
// rows g = 4a'..4a'+3 of the warp (q0 and 16 warp are multiples of 4), held by lanes 4g + t, which share t: lane
// r = g % 4 draws the columns of n-tiles n % 4 == r for all four (8 calls, not 32), puts the bit of word w (row % 4 ==
// w) into byte w of `mine`, and each lane gathers byte r of its three partners' (and its own) word.
__device__ __forceinline__ unsigned tc_fwd_keep(unsigned long long seed, unsigned long long offset, long long bh,
                                                int row0, int k0, int Tq, int Tk, unsigned thr, int lane) {
    asm volatile("" : "+r"(row0));   // keeps the counter's row part in the key loop: no registers across it
    const int t = lane % 4, r = (lane / 4) % 4;
    unsigned mine = 0;
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int nn = 0; nn < 2; ++nn)
#pragma unroll
            for (int b = 0; b < 2; ++b) {
                unsigned w[4];
                const int c = k0 + (4 * nn + r) * 8 + 2 * t + b;
                tg_philox(seed, offset, tg_attn_dropout_counter(bh, row0 + 8 * h, c, Tq, Tk), w);
#pragma unroll
                for (int x = 0; x < 4; ++x) mine |= (unsigned)((w[x] >> 8) >= thr) << (8 * x + 4 * h + 2 * nn + b);
            }
    unsigned got[4];
#pragma unroll
    for (int s = 0; s < 4; ++s) got[s] = __shfl_sync(TG_FULL_MASK, mine, 4 * s + t, 16);
    const unsigned sel = r | ((r + 4) << 4);   // bytes r of two words -> bytes 0, 1
    return __byte_perm(__byte_perm(got[0], got[1], sel), __byte_perm(got[2], got[3], sel), 0x5410);
}
__device__ __forceinline__ bool tc_fwd_kept(unsigned bits, int n, int e) {
    return (bits >> (8 * (n % 4) + 4 * (e >> 1) + 2 * (n / 4) + (e & 1))) & 1u;
}

// Backward: keep bits of this thread's elements of the S^T tile (keys key0, key0 + 8; queries q0 + 8n + 2t + b, q0 a
// multiple of 4): bit 16 h + 2n + b for st[n][2h + b]. Queries q0 + 8n + 4 (t / 2) + 0..3 (one call's words) are held
// by lanes t and t ^ 1 of one g: lane t draws key key0 + 8 (t % 2) for both (SN calls, not 2 SN), keeps the bits of
// its own queries (words 2 (t % 2) + b) and hands the partner's (words 2 - 2 (t % 2) + b) over in one shuffle.
template <int SN>
__device__ __forceinline__ unsigned tc_bwd_keep(unsigned long long seed, unsigned long long offset, long long bh,
                                                int key0, int q0, int Tq, int Tk, unsigned thr, int lane) {
    static_assert(SN <= 8, "16 bits per key row");
    const int t = lane % 4, odd = t & 1;
    unsigned own = 0, other = 0;
#pragma unroll
    for (int n = 0; n < SN; ++n) {
        unsigned w[4];
        tg_philox(seed, offset, tg_attn_dropout_counter(bh, q0 + 8 * n + 4 * (t / 2), key0 + 8 * odd, Tq, Tk), w);
#pragma unroll
        for (int b = 0; b < 2; ++b) {
            own |= (unsigned)(((odd ? w[2 + b] : w[b]) >> 8) >= thr) << (2 * n + b);
            other |= (unsigned)(((odd ? w[b] : w[2 + b]) >> 8) >= thr) << (2 * n + b);
        }
    }
    const unsigned got = __shfl_xor_sync(TG_FULL_MASK, other, 1);
    return odd ? (got | own << 16) : (own | got << 16);
}
__device__ __forceinline__ bool tc_bwd_kept(unsigned bits, int n, int e) {
    return (bits >> (16 * (e >> 1) + 2 * n + (e & 1))) & 1u;
}

// ------------------------------------------------------------------------------------------ forward
template <typename T, int D>
__device__ void attention_forward_tc_impl(const T* __restrict__ q, const T* __restrict__ k,
                                          const T* __restrict__ v, T* __restrict__ out,
                                          float* __restrict__ lse, int Tq, int Tk, float scale, int causal,
                                          float keep_scale, unsigned drop_thr, unsigned long long seed,
                                          unsigned long long offset) {
    constexpr int BM = 16 * TG_TC_WARPS, BN = 64, LD = D + 8;
    constexpr int KD = D / 16;      // k16 slices of the head dim (S = Q K^T)
    constexpr int SN = BN / 8;      // n8 tiles of S
    constexpr int ON = D / 8;       // n8 tiles of O
    static_assert(SN == 8, "tc_fwd_keep covers 64-key tiles");
    extern __shared__ __align__(16) unsigned char attn_tc_smem[];
    T* Qs = reinterpret_cast<T*>(attn_tc_smem);             // BM x LD
    T* Ks = Qs + BM * LD;                                   // BN x LD
    T* Vs = Ks + BN * LD;                                   // BN x LD

    const int warp = threadIdx.x / TG_WARP, lane = threadIdx.x % TG_WARP;
    const int g = lane / 4, t = lane % 4;
    const long long bh = blockIdx.x;
    const int q0 = (gridDim.y - 1 - blockIdx.y) * BM;      // heaviest (causal) tiles first
    const T* qb = q + bh * Tq * D;
    const T* kb = k + bh * Tk * D;
    const T* vb = v + bh * Tk * D;
    const float sl2 = scale * TG_TC_LOG2E;

    const int kv_end = causal ? min(Tk, q0 + BM) : Tk;
    const int ntiles = (kv_end + BN - 1) / BN;

    tc_load_tile<BM, D>(Qs, qb, q0, Tq);
    tc_load_tile<BN, D>(Ks, kb, 0, Tk);
    tc_cp_async_commit();
    tc_cp_async_wait_all();
    __syncthreads();

    unsigned qf[KD][4];
#pragma unroll
    for (int kd = 0; kd < KD; ++kd)
        tc_ldmatrix_x4(qf[kd], Qs + (warp * 16 + lane % 16) * LD + kd * 16 + (lane / 16) * 8);

    float o[ON][4];
#pragma unroll
    for (int n = 0; n < ON; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float m[2] = {tg_neg_inf(), tg_neg_inf()};   // running max (base-2 scaled units), rows g, g + 8
    float l[2] = {0.f, 0.f};                     // this thread's share of the running sum

    const int row0 = q0 + warp * 16 + g;         // this thread's rows: row0, row0 + 8
    for (int j = 0; j < ntiles; ++j) {
        const int k0 = j * BN;
        if (j > 0) {
            tc_cp_async_wait_all();
            __syncthreads();                     // K_j landed; every warp is done reading V_{j-1}
        }
        tc_load_tile<BN, D>(Vs, vb, k0, Tk);
        tc_cp_async_commit();

        unsigned keep = 0;
        if (drop_thr) keep = tc_fwd_keep(seed, offset, bh, row0, k0, Tq, Tk, drop_thr, lane);

        float s[SN][4];
#pragma unroll
        for (int n = 0; n < SN; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
        for (int kd = 0; kd < KD; ++kd) {
#pragma unroll
            for (int np = 0; np < SN / 2; ++np) {
                unsigned b[4];   // K rows np*16.., dims kd*16..: b for key tiles 2np (b[0..1]), 2np+1 (b[2..3])
                tc_ldmatrix_x4(b, Ks + (np * 16 + lane % 8 + (lane / 16) * 8) * LD + kd * 16 + ((lane / 8) % 2) * 8);
                tc_mma<T>(s[2 * np], qf[kd], b[0], b[1]);
                tc_mma<T>(s[2 * np + 1], qf[kd], b[2], b[3]);
            }
        }

        // Only tiles crossing Tk or (for this warp's rows) the causal diagonal need the per-element test.
        const bool need_mask = k0 + BN > Tk || (causal && k0 + BN - 1 > q0 + warp * 16);
        float mx[2] = {tg_neg_inf(), tg_neg_inf()};
#pragma unroll
        for (int n = 0; n < SN; ++n) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                float x = s[n][e] * sl2;
                if (need_mask) {
                    const int c = k0 + n * 8 + 2 * t + (e & 1), r = row0 + (e >> 1) * 8;
                    if (c >= Tk || (causal && c > r)) x = tg_neg_inf();
                }
                s[n][e] = x;
                mx[e >> 1] = fmaxf(mx[e >> 1], x);
            }
        }
        float alpha[2], ms[2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            mx[h] = fmaxf(mx[h], __shfl_xor_sync(TG_FULL_MASK, mx[h], 1));
            mx[h] = fmaxf(mx[h], __shfl_xor_sync(TG_FULL_MASK, mx[h], 2));
            const float mn = fmaxf(m[h], mx[h]);
            // A row with nothing visible yet keeps max -inf; subtract 0 instead so exp gives 0, not NaN.
            // (Cannot happen for rows < Tq: key 0 is in tile 0 and visible to every row.)
            ms[h] = mn == tg_neg_inf() ? 0.f : mn;
            alpha[h] = tc_exp2(m[h] - ms[h]);
            m[h] = mn;
            l[h] *= alpha[h];
        }
#pragma unroll
        for (int n = 0; n < SN; ++n) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const float p = tc_exp2(s[n][e] - ms[e >> 1]);
                s[n][e] = p;
                l[e >> 1] += p;
            }
        }
        if (drop_thr) {                          // l sums the undropped P; P V takes P o keep
#pragma unroll
            for (int n = 0; n < SN; ++n)
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    if (!tc_fwd_kept(keep, n, e)) s[n][e] = 0.f;
        }
#pragma unroll
        for (int n = 0; n < ON; ++n) {
            o[n][0] *= alpha[0]; o[n][1] *= alpha[0];
            o[n][2] *= alpha[1]; o[n][3] *= alpha[1];
        }

        tc_cp_async_wait_all();
        __syncthreads();                         // V_j landed; every warp is done reading K_j
        if (j + 1 < ntiles) {
            tc_load_tile<BN, D>(Ks, kb, k0 + BN, Tk);
            tc_cp_async_commit();
        }

#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk) {
            const unsigned a[4] = {tc_pack<T>(s[2 * kk][0], s[2 * kk][1]), tc_pack<T>(s[2 * kk][2], s[2 * kk][3]),
                                   tc_pack<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                   tc_pack<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int dp = 0; dp < ON / 2; ++dp) {
                unsigned b[4];   // V stored key-major = k-major for P V: transpose while loading
                tc_ldmatrix_x4_trans(b, Vs + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * LD + dp * 16 + (lane / 16) * 8);
                tc_mma<T>(o[2 * dp], a, b[0], b[1]);
                tc_mma<T>(o[2 * dp + 1], a, b[2], b[3]);
            }
        }
    }

#pragma unroll
    for (int h = 0; h < 2; ++h) {
        l[h] += __shfl_xor_sync(TG_FULL_MASK, l[h], 1);
        l[h] += __shfl_xor_sync(TG_FULL_MASK, l[h], 2);
        const int r = row0 + h * 8;
        if (r >= Tq) continue;
        const float inv = (drop_thr ? keep_scale : 1.f) / l[h];
        T* orow = out + (bh * Tq + r) * D + 2 * t;
#pragma unroll
        for (int n = 0; n < ON; ++n) tc_store2(orow + n * 8, o[n][2 * h] * inv, o[n][2 * h + 1] * inv);
        if (t == 0) lse[bh * Tq + r] = m[h] * TG_TC_LN2 + logf(l[h]);
    }
}

// ----------------------------------------------------------------------------------------- backward
template <typename T, int D, int BM>
__device__ void attention_backward_tc_impl(const T* __restrict__ dout, const T* __restrict__ q,
                                           const T* __restrict__ k, const T* __restrict__ v,
                                           const float* __restrict__ lse, const float* __restrict__ delta,
                                           float* __restrict__ dq_acc, T* __restrict__ dk,
                                           T* __restrict__ dv, int Tq, int Tk, float scale, int causal,
                                           float keep_scale, unsigned drop_thr, unsigned long long seed,
                                           unsigned long long offset) {
    constexpr int BN = 16 * TG_TC_WARPS, LD = D + 8, LDS = BM + 8;
    constexpr int KD = D / 16;                  // k16 slices of the head dim (S^T, dP^T)
    constexpr int SN = BM / 8;                  // n8 tiles of S^T (query columns)
    constexpr int ON = D / 8;                   // n8 tiles of dK, dV
    constexpr int WM = BM / 16;                 // dQ: warps along the query rows ...
    constexpr int DW = D / (TG_TC_WARPS / WM);  // ... each covering DW head dims
    constexpr int QN = DW / 8;                  // n8 tiles of a warp's dQ part
    static_assert(TG_TC_WARPS % WM == 0 && DW % 16 == 0, "dQ tile must split over the warps");
    static_assert(2 * BM <= TG_TC_THREADS, "one thread per lse / delta element");
    extern __shared__ __align__(16) unsigned char attn_tc_smem[];
    T* Ks = reinterpret_cast<T*>(attn_tc_smem);            // BN x LD
    T* Vs = Ks + BN * LD;                                   // BN x LD
    T* Qs = Vs + BN * LD;                                   // 2 x BM x LD
    T* dOs = Qs + 2 * BM * LD;                              // 2 x BM x LD
    T* dSs = dOs + 2 * BM * LD;                             // BN x LDS   dS^T (keys x queries)
    float* lse_s = reinterpret_cast<float*>(dSs + BN * LDS);   // 2 x BM
    float* dl_s = lse_s + 2 * BM;                              // 2 x BM

    const int warp = threadIdx.x / TG_WARP, lane = threadIdx.x % TG_WARP;
    const int g = lane / 4, t = lane % 4;
    const long long bh = blockIdx.x;
    const int k0 = blockIdx.y * BN;
    const T* qb = q + bh * Tq * D;
    const T* dob = dout + bh * Tq * D;
    const T* kb = k + bh * Tk * D;
    const T* vb = v + bh * Tk * D;
    const float* lseb = lse + bh * Tq;
    const float* dlb = delta + bh * Tq;
    float* dqb = dq_acc + bh * Tq * D;
    const float sl2 = scale * TG_TC_LOG2E;

    // causal: queries r < k0 see none of these keys; start at the query tile holding row k0.
    const int q_begin = causal ? (k0 / BM) * BM : 0;
    const int nq = Tq > q_begin ? (Tq - q_begin + BM - 1) / BM : 0;

    // Q, dO, lse, delta of query tile q0 into buffer `buf`.
    auto load_q_tile = [&](int q0, int buf) {
        tc_load_tile<BM, D>(Qs + buf * BM * LD, qb, q0, Tq);
        tc_load_tile<BM, D>(dOs + buf * BM * LD, dob, q0, Tq);
        const int i = threadIdx.x;
        if (i < 2 * BM) {
            const int r = i % BM;
            const bool ok = q0 + r < Tq;
            const float* src = i < BM ? lseb : dlb;
            float* dst = (i < BM ? lse_s : dl_s) + buf * BM + r;
            tc_cp_async4(dst, ok ? src + q0 + r : src, ok ? 4 : 0);
        }
    };

    tc_load_tile<BN, D>(Ks, kb, k0, Tk);
    tc_load_tile<BN, D>(Vs, vb, k0, Tk);
    if (nq > 0) load_q_tile(q_begin, 0);
    tc_cp_async_commit();

    float dk_acc[ON][4], dv_acc[ON][4];
#pragma unroll
    for (int n = 0; n < ON; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) dk_acc[n][e] = dv_acc[n][e] = 0.f;

    const int key0 = k0 + warp * 16 + g;        // this thread's keys: key0, key0 + 8
    for (int it = 0; it < nq; ++it) {
        const int q0 = q_begin + it * BM, buf = it & 1;
        tc_cp_async_wait_all();
        __syncthreads();    // tile `it` landed; every warp is done with tile it - 1 (buffer buf ^ 1, dS^T)
        if (it + 1 < nq) {
            load_q_tile(q0 + BM, buf ^ 1);
            tc_cp_async_commit();
        }
        const T* Qb = Qs + buf * BM * LD;
        const T* dOb = dOs + buf * BM * LD;
        const float* lse_b = lse_s + buf * BM;
        const float* dl_b = dl_s + buf * BM;

        unsigned keep = 0;
        if (drop_thr) keep = tc_bwd_keep<SN>(seed, offset, bh, key0, q0, Tq, Tk, drop_thr, lane);

        float st[SN][4], dpt[SN][4];            // S^T = K Q^T, dP^T = V dO^T: this warp's 16 keys x BM
#pragma unroll
        for (int n = 0; n < SN; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) st[n][e] = dpt[n][e] = 0.f;
#pragma unroll
        for (int kd = 0; kd < KD; ++kd) {
            unsigned ka[4], va[4];
            const int arow = (warp * 16 + lane % 16) * LD + kd * 16 + (lane / 16) * 8;
            tc_ldmatrix_x4(ka, Ks + arow);
            tc_ldmatrix_x4(va, Vs + arow);
#pragma unroll
            for (int np = 0; np < SN / 2; ++np) {
                const int brow = (np * 16 + lane % 8 + (lane / 16) * 8) * LD + kd * 16 + ((lane / 8) % 2) * 8;
                unsigned b[4];
                tc_ldmatrix_x4(b, Qb + brow);
                tc_mma<T>(st[2 * np], ka, b[0], b[1]);
                tc_mma<T>(st[2 * np + 1], ka, b[2], b[3]);
                tc_ldmatrix_x4(b, dOb + brow);
                tc_mma<T>(dpt[2 * np], va, b[0], b[1]);
                tc_mma<T>(dpt[2 * np + 1], va, b[2], b[3]);
            }
        }

        // P^T = exp(scale S^T - lse) (0 where masked), dS^T = P^T (dP^T - delta) scale; in place. Dropout:
        // dP^T <- Z o dP^T first, and P^T <- P^T o keep (for dV) after dS^T.
        if (drop_thr) {
#pragma unroll
            for (int n = 0; n < SN; ++n)
#pragma unroll
                for (int e = 0; e < 4; ++e) dpt[n][e] = tc_bwd_kept(keep, n, e) ? dpt[n][e] * keep_scale : 0.f;
        }
        const bool need_mask = q0 + BM > Tq || k0 + BN > Tk || (causal && k0 + warp * 16 + 15 > q0);
#pragma unroll
        for (int n = 0; n < SN; ++n) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int lq = n * 8 + 2 * t + (e & 1);
                float p = tc_exp2(st[n][e] * sl2 - lse_b[lq] * TG_TC_LOG2E);
                if (need_mask) {
                    const int r = q0 + lq, c = key0 + (e >> 1) * 8;
                    if (r >= Tq || c >= Tk || (causal && c > r)) p = 0.f;
                }
                st[n][e] = p;
                dpt[n][e] = p * (dpt[n][e] - dl_b[lq]) * scale;
            }
        }
        if (drop_thr) {
#pragma unroll
            for (int n = 0; n < SN; ++n)
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    if (!tc_bwd_kept(keep, n, e)) st[n][e] = 0.f;
        }
        // dS^T -> shared (fp16) for dQ; rows = keys, columns = queries.
#pragma unroll
        for (int n = 0; n < SN; ++n) {
            unsigned* d0 = reinterpret_cast<unsigned*>(dSs + (warp * 16 + g) * LDS + n * 8 + 2 * t);
            d0[0] = tc_pack<T>(dpt[n][0], dpt[n][1]);
            d0[8 * LDS / 2] = tc_pack<T>(dpt[n][2], dpt[n][3]);
        }

        // dV += P^T dO, dK += dS^T Q: A from this thread's registers, B = dO / Q (query-major = k-major).
#pragma unroll
        for (int kk = 0; kk < BM / 16; ++kk) {
            const unsigned pa[4] = {tc_pack<T>(st[2 * kk][0], st[2 * kk][1]), tc_pack<T>(st[2 * kk][2], st[2 * kk][3]),
                                    tc_pack<T>(st[2 * kk + 1][0], st[2 * kk + 1][1]),
                                    tc_pack<T>(st[2 * kk + 1][2], st[2 * kk + 1][3])};
            const unsigned sa[4] = {tc_pack<T>(dpt[2 * kk][0], dpt[2 * kk][1]),
                                    tc_pack<T>(dpt[2 * kk][2], dpt[2 * kk][3]),
                                    tc_pack<T>(dpt[2 * kk + 1][0], dpt[2 * kk + 1][1]),
                                    tc_pack<T>(dpt[2 * kk + 1][2], dpt[2 * kk + 1][3])};
#pragma unroll
            for (int dp = 0; dp < ON / 2; ++dp) {
                const int brow = (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * LD + dp * 16 + (lane / 16) * 8;
                unsigned b[4];
                tc_ldmatrix_x4_trans(b, dOb + brow);
                tc_mma<T>(dv_acc[2 * dp], pa, b[0], b[1]);
                tc_mma<T>(dv_acc[2 * dp + 1], pa, b[2], b[3]);
                tc_ldmatrix_x4_trans(b, Qb + brow);
                tc_mma<T>(dk_acc[2 * dp], sa, b[0], b[1]);
                tc_mma<T>(dk_acc[2 * dp + 1], sa, b[2], b[3]);
            }
        }
        __syncthreads();                          // dS^T complete

        // dQ (rows mr0.., dims dc0..) = dS K; A = dS read transposed from dS^T, B = K (key-major = k-major).
        const int mr0 = (warp % WM) * 16, dc0 = (warp / WM) * DW;
        float dq[QN][4];
#pragma unroll
        for (int n = 0; n < QN; ++n) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk) {
            unsigned a[4];
            tc_ldmatrix_x4_trans(a, dSs + (kk * 16 + lane % 8 + (lane / 16) * 8) * LDS + mr0 + ((lane / 8) % 2) * 8);
#pragma unroll
            for (int dp = 0; dp < QN / 2; ++dp) {
                unsigned b[4];
                tc_ldmatrix_x4_trans(b, Ks + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * LD + dc0 + dp * 16 + (lane / 16) * 8);
                tc_mma<T>(dq[2 * dp], a, b[0], b[1]);
                tc_mma<T>(dq[2 * dp + 1], a, b[2], b[3]);
            }
        }
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int r = q0 + mr0 + g + h * 8;
            if (r >= Tq) continue;
            float* drow = dqb + (long long)r * D + dc0 + 2 * t;
#pragma unroll
            for (int n = 0; n < QN; ++n) tc_atomic_add2(drow + n * 8, dq[n][2 * h], dq[n][2 * h + 1]);
        }
    }
    // A block with no visible queries (causal, k0 >= Tq) still has the K / V copies in flight; they must
    // land before the block exits and its shared memory goes to the next block.
    tc_cp_async_wait_all();

    const float dv_scale = drop_thr ? keep_scale : 1.f;   // dV = (P o keep)^T dO * keep_scale
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int c = key0 + h * 8;
        if (c >= Tk) continue;
        T* dkr = dk + (bh * Tk + c) * D + 2 * t;
        T* dvr = dv + (bh * Tk + c) * D + 2 * t;
#pragma unroll
        for (int n = 0; n < ON; ++n) {
            tc_store2(dkr + n * 8, dk_acc[n][2 * h], dk_acc[n][2 * h + 1]);
            tc_store2(dvr + n * 8, dv_acc[n][2 * h] * dv_scale, dv_acc[n][2 * h + 1] * dv_scale);
        }
    }
}

#define TG_ATTN_TC_INSTANTIATE(SFX, T, DH, BBM, FMINB, BMINB)                                                  \
    extern "C" __global__ void __launch_bounds__(TG_TC_THREADS, FMINB) attention_forward_kernel_##SFX##_tc_d##DH(  \
        const T* q, const T* k, const T* v, T* out, float* lse, int Tq, int Tk, int D, float scale, int causal,    \
        float keep_scale, unsigned int drop_thr, unsigned long long seed, unsigned long long offset,              \
        const unsigned long long* rng_state) {                                                                    \
        (void)D;                                                                                                  \
        tg_philox_graph_state(rng_state, seed, offset);                                                           \
        attention_forward_tc_impl<T, DH>(q, k, v, out, lse, Tq, Tk, scale, causal, keep_scale, drop_thr, seed,     \
                                         offset);                                                                 \
    }                                                                                                             \
    extern "C" __global__ void __launch_bounds__(TG_TC_THREADS, BMINB) attention_backward_kernel_##SFX##_tc_d##DH( \
        const T* dout, const T* q, const T* k, const T* v, const float* lse, const float* delta, float* dq_acc,    \
        T* dk, T* dv, int Tq, int Tk, int D, float scale, int causal, float keep_scale, unsigned int drop_thr,     \
        unsigned long long seed, unsigned long long offset, const unsigned long long* rng_state) {                 \
        (void)D;                                                                                                  \
        tg_philox_graph_state(rng_state, seed, offset);                                                           \
        attention_backward_tc_impl<T, DH, BBM>(dout, q, k, v, lse, delta, dq_acc, dk, dv, Tq, Tk, scale, causal,   \
                                               keep_scale, drop_thr, seed, offset);                               \
    }

// Minimum resident blocks per SM (launch bounds): the d64 forward fits 4 (<= 128 registers, no spills),
// which hides the ex2 / shuffle latency of one warp behind another's mma. The others need ~230-255
// registers (nvcc 13, sm_80 / sm_90, with dropout), so 2; asking the d64 backward for 3 made ptxas spill.
// bfloat16 takes the same tiles and bounds (same register counts within a few, no spills: nvcc 13).
TG_ATTN_TC_INSTANTIATE(f16, __half, 64, 64, 4, 2)
TG_ATTN_TC_INSTANTIATE(f16, __half, 128, 32, 2, 2)
TG_ATTN_TC_INSTANTIATE(bf16, __nv_bfloat16, 64, 64, 4, 2)
TG_ATTN_TC_INSTANTIATE(bf16, __nv_bfloat16, 128, 32, 2, 2)
