/* entq_cuda.cu - the CUDA kernels for ENTQ streams (API in entq_cuda.h).
 *
 * Every decoding kernel is the same frame: the block copies the slot table
 * to shared memory, then each warp walks whole segments with the lane
 * schedule of entq_lane.h and hands the symbols to a sink
 * (entq_lane_sinks.h). Segments are independent, so warps never wait for
 * each other; a warp takes segments warp, warp + total_warps, ... */
#include <climits>

#include <mma.h>

#include "entq_cuda.h"
#include "entq_lane_sinks.h"

namespace {

typedef entq_warp_gpu Warp;

/* Shared memory of a decoding block: the table, then one ring per warp. */
size_t block_smem(uint32_t prob_bits, uint32_t wpb) {
    return entq_lane_table_bytes(prob_bits) + (size_t)wpb * ENTQ_RING_ALLOC_WORDS * sizeof(uint16_t);
}

__device__ void report(int *status, int st, uint32_t seg) {
    if (st != ENTQ_OK && (threadIdx.x & 31u) == 0) {
        atomicMax(status, st);
        atomicMin(status + 1, (int)(seg < (uint32_t)INT_MAX ? seg : INT_MAX));
    }
}

/* The frame: `make(r0)` builds the sink for the segment starting at row r0. */
template <class MakeSink> __device__ void run_segments(const entq_cuda_tensor &t, int *status, MakeSink make) {
    extern __shared__ __align__(16) uint8_t smem[];
    const uint32_t nslots = 1u << t.prob_bits;
    for (uint32_t i = threadIdx.x; i < nslots / 2; i += blockDim.x) /* two slots per 16 bytes */
        ((uint4 *)smem)[i] = __ldg((const uint4 *)t.table + i);
    __syncthreads();
    const entq_lane_table tab{(const entq_lane_slot *)smem};
    const uint32_t warp = threadIdx.x / 32u, wpb = blockDim.x / 32u;
    uint16_t *ring = (uint16_t *)(smem + entq_lane_table_bytes(t.prob_bits)) + warp * ENTQ_RING_ALLOC_WORDS;
    for (uint32_t seg = blockIdx.x * wpb + warp; seg < t.n_seg; seg += gridDim.x * wpb) {
        const uint32_t start = seg ? __ldg(t.index + seg - 1) : 0u, end = __ldg(t.index + seg);
        const uint32_t r0 = seg * t.rows_per_seg, rows = min(t.rows_per_seg, t.N - r0);
        entq_lane_dec<Warp> d;
        d.init(t.payload + start, end - start, ring);
        auto sink = make(r0);
        report(status, entq_lane_walk(d, tab, t.prob_bits, t.K, rows, sink), seg);
    }
}

template <int B>
__global__ void __launch_bounds__(512, 1) gemv_kernel(entq_cuda_tensor t, const float *__restrict__ x, uint32_t ldx,
                                                    float *__restrict__ y, uint32_t ldy, int *status) {
    run_segments(t, status, [&](uint32_t r0) {
        return entq_sink_gemv<Warp, B>(x, ldx, y + r0, ldy, t.scales + r0, t.scale_base);
    });
}

__global__ void __launch_bounds__(512, 1) decode_f16_kernel(entq_cuda_tensor t, uint16_t *out, uint32_t ld, int *status) {
    run_segments(t, status, [&](uint32_t r0) { return entq_sink_values<Warp>(out + (uint64_t)r0 * ld, ld); });
}

__global__ void __launch_bounds__(512, 1) decode_codes_kernel(entq_cuda_tensor t, uint8_t *out, int *status) {
    run_segments(t, status, [&](uint32_t r0) { return entq_sink_codes<Warp>(t.sym, out + (uint64_t)r0 * t.K, t.K); });
}

__global__ void scale_rows_kernel(const uint16_t *scales, float scale_base, uint32_t N, float *y, uint32_t ldy,
                                  uint32_t ncols) {
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (uint64_t)N * ncols) return;
    const uint32_t r = (uint32_t)(i % N), c = (uint32_t)(i / N);
    y[(uint64_t)c * ldy + r] *= scale_base * entq_f16_to_f32(scales[r]);
}

__global__ void f32_to_f16_kernel(const float *src, uint32_t lds, uint16_t *dst, uint32_t ld, uint32_t K,
                                  uint32_t ncols) {
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (uint64_t)ld * ncols) return;
    const uint32_t k = (uint32_t)(i % ld), c = (uint32_t)(i / ld);
    dst[i] = k < K ? __half_as_ushort(__float2half_rn(src[(uint64_t)c * lds + k])) : (uint16_t)0;
}

/* Occupancy per (kernel, warps per block, table size), asked once: the
 * launchers run per matrix product, where a driver query each time would cost
 * more than a small kernel. */
struct ShapeCache {
    const void *kernel;
    uint32_t wpb;
    size_t smem;
    int blocks_per_sm;
};

template <class Kernel> int blocks_per_sm(Kernel kernel, uint32_t wpb, size_t smem) {
    static ShapeCache cache[64];
    static int used = 0;
    for (int i = 0; i < used; i++)
        if (cache[i].kernel == (const void *)kernel && cache[i].wpb == wpb && cache[i].smem == smem)
            return cache[i].blocks_per_sm;
    int occ = 0;
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)block_smem(ENTQ_MAX_PROB_BITS, 16));
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, kernel, (int)(wpb * 32), smem);
    if (occ < 1) occ = 1;
    if (used < 64) cache[used++] = ShapeCache{(const void *)kernel, wpb, smem, occ};
    return occ;
}

/* Warps per block: enough to share one table copy (8, or 16 when the table
 * takes 64 KB or more), fewer when the segments would not fill every
 * multiprocessor; blocks: all segments, at most what is resident at once. */
template <class Kernel> void shape_for(Kernel kernel, const entq_cuda_tensor *t, uint32_t *wpb_out, uint32_t *blocks_out,
                                       size_t *smem_out) {
    const uint32_t sms = (uint32_t)entq_cuda_device_sms();
    uint32_t wpb = entq_lane_table_bytes(t->prob_bits) >= 65536 ? 16 : 8;
    while (wpb > 1 && (t->n_seg + wpb - 1) / wpb < sms) wpb >>= 1;
    const size_t smem = block_smem(t->prob_bits, wpb);
    const uint32_t resident = (uint32_t)blocks_per_sm(kernel, wpb, smem) * sms;
    const uint32_t blocks = (t->n_seg + wpb - 1) / wpb;
    *wpb_out = wpb;
    *blocks_out = blocks < resident ? blocks : resident;
    *smem_out = smem;
}

template <int B>
cudaError_t launch_gemv(const entq_cuda_tensor *t, const float *x, uint32_t ldx, float *y, uint32_t ldy, int *status,
                        cudaStream_t stream) {
    uint32_t wpb, blocks;
    size_t smem;
    shape_for(gemv_kernel<B>, t, &wpb, &blocks, &smem);
    gemv_kernel<B><<<blocks, wpb * 32, smem, stream>>>(*t, x, ldx, y, ldy, status);
    return cudaGetLastError();
}

/* ---- the fallback GEMM: 64 x 64 block tiles, 4 warps of 32 x 32, K steps of 32 ---- */

namespace wmma = nvcuda::wmma;

constexpr int GT = 64, GK = 32, GPAD = 8, GLD = GK + GPAD; /* padded rows: fewer bank conflicts */

__global__ void __launch_bounds__(128) gemm_f16_kernel(const __half *A, uint32_t lda, const __half *Bm, uint32_t ldb,
                                                       float *C, uint32_t ldc, uint32_t M, uint32_t Ncols, uint32_t K) {
    __shared__ __align__(32) __half As[GT * GLD], Bs[GT * GLD];
    __shared__ __align__(32) float Cs[4][16 * 16];
    const uint32_t m0 = blockIdx.x * GT, n0 = blockIdx.y * GT;
    const int warp = threadIdx.x / 32, wm = warp / 2, wn = warp % 2;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);
    for (uint32_t k0 = 0; k0 < K; k0 += GK) {
        /* each thread loads 16 halves of A and of B (two 8-half vectors), zero outside */
        for (int v = threadIdx.x; v < GT * GK / 8; v += blockDim.x) {
            const int r = v / (GK / 8), kk = (v % (GK / 8)) * 8;
            const uint32_t k = k0 + kk;
            uint4 a = make_uint4(0, 0, 0, 0), b = make_uint4(0, 0, 0, 0);
            if (k + 8 <= K) {
                if (m0 + r < M) a = *(const uint4 *)(A + (uint64_t)(m0 + r) * lda + k);
                if (n0 + r < Ncols) b = *(const uint4 *)(Bm + (uint64_t)(n0 + r) * ldb + k);
            } else {
                __half ta[8], tb[8];
                for (int e = 0; e < 8; e++) {
                    ta[e] = (m0 + r < M && k + e < K) ? A[(uint64_t)(m0 + r) * lda + k + e] : __float2half(0.0f);
                    tb[e] = (n0 + r < Ncols && k + e < K) ? Bm[(uint64_t)(n0 + r) * ldb + k + e] : __float2half(0.0f);
                }
                a = *(uint4 *)ta;
                b = *(uint4 *)tb;
            }
            *(uint4 *)(As + r * GLD + kk) = a;
            *(uint4 *)(Bs + r * GLD + kk) = b;
        }
        __syncthreads();
        for (int kk = 0; kk < GK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb[2];
            for (int i = 0; i < 2; i++) wmma::load_matrix_sync(fa[i], As + (wm * 32 + i * 16) * GLD + kk, GLD);
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(fb[j], Bs + (wn * 32 + j * 16) * GLD + kk, GLD);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }
    const int lane = threadIdx.x & 31;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            wmma::store_matrix_sync(Cs[warp], acc[i][j], 16, wmma::mem_col_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                const uint32_t r = m0 + wm * 32 + i * 16 + e % 16, c = n0 + wn * 32 + j * 16 + e / 16;
                if (r < M && c < Ncols) C[(uint64_t)c * ldc + r] = Cs[warp][e];
            }
            __syncwarp();
        }
}

}  // namespace

int entq_cuda_device_sms() {
    // per device: a process may run kernels on several GPUs of different sizes
    static int sms[64] = {};
    int dev = 0;
    cudaGetDevice(&dev);
    if (dev < 0 || dev >= 64) dev = 0;
    if (!sms[dev]) {
        int n = 0;
        cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
        sms[dev] = n < 1 ? 1 : n;
    }
    return sms[dev];
}

int entq_cuda_describe(const entq_info *in, const uint8_t *d_stream, const entq_lane_slot *table, const uint8_t *sym,
                       entq_cuda_tensor *t) {
    if (((uintptr_t)d_stream & 3u) != 0 || !table) return ENTQ_ERR_ARG;
    if ((uint64_t)in->rows_per_seg * in->K >= (1ull << 32) - 32) return ENTQ_ERR_TOO_LARGE;
    t->payload = d_stream + in->payload_off;
    t->index = (const uint32_t *)(d_stream + in->index_off);
    t->scales = (const uint16_t *)(d_stream + in->scales_off);
    t->table = table;
    t->sym = sym;
    t->K = in->K;
    t->N = in->N;
    t->rows_per_seg = in->rows_per_seg;
    t->n_seg = in->n_seg;
    t->prob_bits = in->prob_bits;
    t->scale_base = in->scale_base;
    return ENTQ_OK;
}

cudaError_t entq_cuda_status_reset(int *d_status, cudaStream_t stream) {
    cudaError_t e = cudaMemsetAsync(d_status, 0, sizeof(int), stream);
    if (e != cudaSuccess) return e;
    return cudaMemsetAsync(d_status + 1, 0x7f, sizeof(int), stream); /* 0x7f7f7f7f: no bad segment */
}

cudaError_t entq_cuda_gemv(const entq_cuda_tensor *t, const float *x, uint32_t ldx, float *y, uint32_t ldy,
                           uint32_t ncols, int *d_status, cudaStream_t stream) {
    for (uint32_t c0 = 0; c0 < ncols; c0 += 8) {
        const uint32_t nc = ncols - c0 < 8 ? ncols - c0 : 8;
        const float *xc = x + (uint64_t)c0 * ldx;
        float *yc = y + (uint64_t)c0 * ldy;
        cudaError_t e = cudaErrorInvalidValue;
        switch (nc) {
        case 1: e = launch_gemv<1>(t, xc, ldx, yc, ldy, d_status, stream); break;
        case 2: e = launch_gemv<2>(t, xc, ldx, yc, ldy, d_status, stream); break;
        case 3: e = launch_gemv<3>(t, xc, ldx, yc, ldy, d_status, stream); break;
        case 4: e = launch_gemv<4>(t, xc, ldx, yc, ldy, d_status, stream); break;
        case 5: e = launch_gemv<5>(t, xc, ldx, yc, ldy, d_status, stream); break;
        case 6: e = launch_gemv<6>(t, xc, ldx, yc, ldy, d_status, stream); break;
        case 7: e = launch_gemv<7>(t, xc, ldx, yc, ldy, d_status, stream); break;
        case 8: e = launch_gemv<8>(t, xc, ldx, yc, ldy, d_status, stream); break;
        }
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

cudaError_t entq_cuda_decode_f16(const entq_cuda_tensor *t, uint16_t *out, uint32_t ld, int *d_status,
                                 cudaStream_t stream) {
    uint32_t wpb, blocks;
    size_t smem;
    shape_for(decode_f16_kernel, t, &wpb, &blocks, &smem);
    decode_f16_kernel<<<blocks, wpb * 32, smem, stream>>>(*t, out, ld, d_status);
    return cudaGetLastError();
}

cudaError_t entq_cuda_decode_codes(const entq_cuda_tensor *t, uint8_t *out, int *d_status, cudaStream_t stream) {
    if (!t->sym) return cudaErrorInvalidValue;
    uint32_t wpb, blocks;
    size_t smem;
    shape_for(decode_codes_kernel, t, &wpb, &blocks, &smem);
    decode_codes_kernel<<<blocks, wpb * 32, smem, stream>>>(*t, out, d_status);
    return cudaGetLastError();
}

cudaError_t entq_cuda_scale_rows_by(const uint16_t *scales, float scale_base, uint32_t N, float *y, uint32_t ldy,
                                    uint32_t ncols, cudaStream_t stream) {
    const uint64_t n = (uint64_t)N * ncols;
    scale_rows_kernel<<<(unsigned)((n + 255) / 256), 256, 0, stream>>>(scales, scale_base, N, y, ldy, ncols);
    return cudaGetLastError();
}

cudaError_t entq_cuda_scale_rows(const entq_cuda_tensor *t, float *y, uint32_t ldy, uint32_t ncols,
                                 cudaStream_t stream) {
    return entq_cuda_scale_rows_by(t->scales, t->scale_base, t->N, y, ldy, ncols, stream);
}

cudaError_t entq_cuda_f32_to_f16(const float *src, uint32_t lds, uint16_t *dst, uint32_t ld, uint32_t K,
                                 uint32_t ncols, cudaStream_t stream) {
    const uint64_t n = (uint64_t)ld * ncols;
    f32_to_f16_kernel<<<(unsigned)((n + 255) / 256), 256, 0, stream>>>(src, lds, dst, ld, K, ncols);
    return cudaGetLastError();
}

void entq_cuda_launch_shape(const entq_cuda_tensor *t, uint32_t *warps_per_block, uint32_t *blocks) {
    size_t smem;
    shape_for(gemv_kernel<1>, t, warps_per_block, blocks, &smem);
}

cudaError_t entq_cuda_gemm_f16(const uint16_t *A, uint32_t lda, const uint16_t *Bm, uint32_t ldb, float *C,
                               uint32_t ldc, uint32_t M, uint32_t Ncols, uint32_t K, cudaStream_t stream) {
    if (lda % 8 || ldb % 8) return cudaErrorInvalidValue;
    dim3 grid((M + GT - 1) / GT, (Ncols + GT - 1) / GT);
    gemm_f16_kernel<<<grid, 128, 0, stream>>>((const __half *)A, lda, (const __half *)Bm, ldb, C, ldc, M, Ncols, K);
    return cudaGetLastError();
}
