/* entq_tile_cuda.cu - the CUDA kernels on the lane-stream layout (API in
 * entq_tile_cuda.h). Every kernel is one frame: the block copies the slot
 * table to shared memory, then each warp walks whole tiles with the schedule
 * of entq_tile.h (a lane per stream) and hands the symbols to a sink. */
#include "entq_tile_cuda.h"

#include "entq_cuda.h"

namespace {

typedef entq_warp_gpu Warp;

/* The block's copy of the slot table in shared memory. */
__device__ const entq_tile_slot *load_table(const entq_tile_tensor &t) {
    extern __shared__ __align__(16) uint8_t smem[];
    const uint32_t nslots = 1u << t.prob_bits;
    for (uint32_t i = threadIdx.x; i < nslots; i += blockDim.x) ((uint4 *)smem)[i] = __ldg((const uint4 *)t.table + i);
    __syncthreads();
    return (const entq_tile_slot *)smem;
}

template <class MakeSink> __device__ void run_tiles(const entq_tile_tensor &t, MakeSink make) {
    const entq_tile_slot *tab = load_table(t);
    const uint32_t wpb = blockDim.x / 32u;
    for (uint32_t tile = blockIdx.x * wpb + threadIdx.x / 32u; tile < t.n_tiles; tile += gridDim.x * wpb) {
        auto sink = make(tile * t.rows_per_tile);
        entq_tile_walk<Warp>(t, tab, tile, sink);
    }
}

template <int B>
__global__ void __launch_bounds__(256, 2) tile_gemv_kernel(entq_tile_tensor t, const float *__restrict__ x, uint32_t ldx,
                                                        float *__restrict__ y, uint32_t ldy) {
    run_tiles(t, [&](uint32_t) { return entq_tile_sink_gemv<Warp, B>(x, ldx, y, ldy, t.scales, t.scale_base); });
}

__global__ void __launch_bounds__(256, 2) tile_f16_kernel(entq_tile_tensor t, uint16_t *out, uint32_t ld) {
    run_tiles(t, [&](uint32_t r0) { return entq_tile_sink_f16<Warp>{out, ld, r0}; });
}

__global__ void __launch_bounds__(256, 2) tile_codes_kernel(entq_tile_tensor t, uint8_t *out) {
    run_tiles(t, [&](uint32_t r0) { return entq_tile_sink_codes<Warp>{out, t.K, r0}; });
}

/* One warp per asked row (token embeddings): its tile walked, the row kept. A row
 * outside the weight sets bad = {1, row} and leaves its output alone. */
__global__ void __launch_bounds__(256, 2) tile_get_rows_kernel(entq_tile_tensor t, const int32_t *ids, uint32_t n, float *out,
                                                            uint64_t ld, int *bad) {
    const entq_tile_slot *tab = load_table(t);
    const uint32_t wpb = blockDim.x / 32u;
    for (uint32_t i = blockIdx.x * wpb + threadIdx.x / 32u; i < n; i += gridDim.x * wpb) {
        const int32_t r = __ldg(ids + i);
        if (r < 0 || (uint32_t)r >= t.N) {  // the same for the whole warp
            if ((threadIdx.x & 31u) == 0) {
                bad[1] = r;
                atomicExch(bad, 1);
            }
            continue;
        }
        const uint32_t tile = (uint32_t)r / t.rows_per_tile;
        entq_tile_sink_row<Warp> sink(out + i * ld, tile * t.rows_per_tile, (uint32_t)r, t.scales, t.scale_base);
        entq_tile_walk<Warp>(t, tab, tile, sink);
    }
}

/* 8 warps share a table copy; fewer when the tiles would not give every
 * multiprocessor two blocks. One tile per warp: each block copies the table
 * once (32 KB at most, from L2). */
void shape(const entq_tile_tensor *t, uint32_t *wpb_out, uint32_t *blocks_out, size_t *smem_out) {
    const uint32_t sms = (uint32_t)entq_cuda_device_sms();
    uint32_t wpb = 8;
    while (wpb > 2 && (t->n_tiles + wpb - 1) / wpb < 2 * sms) wpb >>= 1;
    *wpb_out = wpb;
    *blocks_out = (t->n_tiles + wpb - 1) / wpb;
    *smem_out = (size_t)sizeof(entq_tile_slot) << t->prob_bits;
}

template <int B>
cudaError_t launch_gemv(const entq_tile_tensor *t, const float *x, uint32_t ldx, float *y, uint32_t ldy, cudaStream_t stream) {
    uint32_t wpb, blocks;
    size_t smem;
    shape(t, &wpb, &blocks, &smem);
    tile_gemv_kernel<B><<<blocks, wpb * 32, smem, stream>>>(*t, x, ldx, y, ldy);
    return cudaGetLastError();
}

}  // namespace

cudaError_t entq_tile_cuda_gemv(const entq_tile_tensor *t, const float *x, uint32_t ldx, float *y, uint32_t ldy,
                                uint32_t ncols, cudaStream_t stream) {
    if (t->prob_bits > ENTQ_TILE_MAX_PROB_BITS) return cudaErrorInvalidValue;
    for (uint32_t c0 = 0; c0 < ncols; c0 += 8) {
        const uint32_t nc = ncols - c0 < 8 ? ncols - c0 : 8;
        const float *xc = x + (uint64_t)c0 * ldx;
        float *yc = y + (uint64_t)c0 * ldy;
        cudaError_t e = cudaErrorInvalidValue;
        switch (nc) {
        case 1: e = launch_gemv<1>(t, xc, ldx, yc, ldy, stream); break;
        case 2: e = launch_gemv<2>(t, xc, ldx, yc, ldy, stream); break;
        case 3: e = launch_gemv<3>(t, xc, ldx, yc, ldy, stream); break;
        case 4: e = launch_gemv<4>(t, xc, ldx, yc, ldy, stream); break;
        case 5: e = launch_gemv<5>(t, xc, ldx, yc, ldy, stream); break;
        case 6: e = launch_gemv<6>(t, xc, ldx, yc, ldy, stream); break;
        case 7: e = launch_gemv<7>(t, xc, ldx, yc, ldy, stream); break;
        case 8: e = launch_gemv<8>(t, xc, ldx, yc, ldy, stream); break;
        }
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

cudaError_t entq_tile_cuda_decode_f16(const entq_tile_tensor *t, uint16_t *out, uint32_t ld, cudaStream_t stream) {
    if (t->prob_bits > ENTQ_TILE_MAX_PROB_BITS) return cudaErrorInvalidValue;
    uint32_t wpb, blocks;
    size_t smem;
    shape(t, &wpb, &blocks, &smem);
    tile_f16_kernel<<<blocks, wpb * 32, smem, stream>>>(*t, out, ld);
    return cudaGetLastError();
}

cudaError_t entq_tile_cuda_decode_codes(const entq_tile_tensor *t, uint8_t *out, cudaStream_t stream) {
    if (t->prob_bits > ENTQ_TILE_MAX_PROB_BITS) return cudaErrorInvalidValue;
    uint32_t wpb, blocks;
    size_t smem;
    shape(t, &wpb, &blocks, &smem);
    tile_codes_kernel<<<blocks, wpb * 32, smem, stream>>>(*t, out);
    return cudaGetLastError();
}

cudaError_t entq_tile_cuda_get_rows(const entq_tile_tensor *t, const int32_t *ids, uint32_t n, float *out, uint64_t ld, int *bad,
                                    cudaStream_t stream) {
    if (t->prob_bits > ENTQ_TILE_MAX_PROB_BITS) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    const uint32_t wpb = n < 8 ? n : 8;
    tile_get_rows_kernel<<<(n + wpb - 1) / wpb, wpb * 32, (size_t)sizeof(entq_tile_slot) << t->prob_bits, stream>>>(*t, ids, n, out, ld, bad);
    return cudaGetLastError();
}

void entq_tile_cuda_launch_shape(const entq_tile_tensor *t, uint32_t *warps_per_block, uint32_t *blocks) {
    size_t smem;
    shape(t, warps_per_block, blocks, &smem);
}
