/* entq_metal_shim.h - enough of the Metal Shading Language to compile our
 * kernels (entq_tile.metal) as C++ and run them on the CPU, for tests on
 * machines without Apple hardware.
 *
 * Execution model: a dispatch runs its threadgroups one after another; the
 * threads of a threadgroup are fibers (ucontext) on one OS thread. A fiber
 * runs until it reaches a collective (simd_sum) or threadgroup_barrier, or
 * returns. When every fiber waits or is done, the scheduler completes each
 * simdgroup whose 32 threads all wait at the same collective (same kind, same
 * source line), and releases a barrier that every thread of the threadgroup
 * waits at. Anything else is a divergent collective (some lanes at a
 * simd_sum, others past it, returned, or at another one; or a barrier that
 * not every thread reaches): the dispatch stops and returns a report naming
 * the collective, its line, the threadgroup, simdgroup and lanes. On Apple
 * GPUs a simd_sum in divergent control flow silently sums the active lanes
 * only; our kernels never do that on purpose, so here it is an error.
 *
 * The address spaces (device, constant, threadgroup, thread) and `kernel`
 * become nothing; MSL attributes ([[buffer(0)]] ...) are ignored by the C++
 * compiler (-Wno-attributes). Include every standard header a test needs
 * before this one: the macros below would rewrite them.
 */
#ifndef ENTQ_METAL_SHIM_H
#define ENTQ_METAL_SHIM_H

#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace metal {

typedef unsigned int uint;
typedef unsigned short ushort;
typedef unsigned char uchar;
typedef uint64_t ulong;
typedef _Float16 half;

enum class mem_flags { mem_none = 0, mem_device = 1, mem_threadgroup = 2, mem_texture = 4 };

template <typename T, typename U> static inline T as_type(U u) {
    static_assert(sizeof(T) == sizeof(U), "as_type: sizes differ");
    T t;
    std::memcpy(&t, &u, sizeof t);
    return t;
}
using std::fma;
using std::min;

/* ---- the lock-step scheduler ---- */

namespace shim {

/* One thread's position, as the kernel attributes give it. */
struct Thread {
    uint tgpig, ntg;    /* threadgroup_position_in_grid, threadgroups_per_grid */
    uint tpitg, ntptg;  /* thread_index_in_threadgroup, threads_per_threadgroup */
    ushort tiisg, sgitg, nsg;
    uint gid;           /* thread_position_in_grid */
    void *smem;         /* the threadgroup's memory ([[threadgroup(0)]]) */
};

enum class Wait { Ready, Simd, Barrier, Done };

struct Fiber {
    ucontext_t uc;
    std::unique_ptr<char[]> stack;
    Wait wait = Wait::Ready;
    const char *what = "";
    const char *file = "";
    int line = 0;
    float in = 0, out = 0;
    Thread th;
};

struct Sched {
    ucontext_t main;
    std::vector<Fiber> fibers;
    const std::function<void(const Thread &)> *body = nullptr;
    int current = -1;
};

inline Sched *&current_sched() {
    static thread_local Sched *s = nullptr;
    return s;
}

inline void fiber_entry() {
    Sched *s = current_sched();
    Fiber &f = s->fibers[(size_t)s->current];
    (*s->body)(f.th);
    f.wait = Wait::Done;
    swapcontext(&f.uc, &s->main);
}

/* A fresh context at fiber_entry on the fiber's stack (apart: getcontext returns twice). */
inline void start_fiber(Fiber &f, size_t stack_bytes) {
    getcontext(&f.uc);
    f.uc.uc_stack.ss_sp = f.stack.get();
    f.uc.uc_stack.ss_size = stack_bytes;
    f.uc.uc_link = nullptr;
    makecontext(&f.uc, fiber_entry, 0);
}

/* Called by a fiber: park at a collective or barrier until the scheduler completes it. */
inline float park(Wait kind, const char *what, const char *file, int line, float v) {
    Sched *s = current_sched();
    if (!s) { /* outside a dispatch: a single thread, trivially converged */
        return v;
    }
    Fiber &f = s->fibers[(size_t)s->current];
    f.wait = kind;
    f.what = what;
    f.file = std::strrchr(file, '/') ? std::strrchr(file, '/') + 1 : file;
    f.line = line;
    f.in = v;
    swapcontext(&f.uc, &s->main);
    return f.out;
}

/* "0-15,17" */
inline std::string lane_list(const std::vector<int> &lanes) {
    std::string s;
    for (size_t i = 0; i < lanes.size();) {
        size_t j = i;
        while (j + 1 < lanes.size() && lanes[j + 1] == lanes[j] + 1) j++;
        s += (s.empty() ? "" : ",") + std::to_string(lanes[i]) + (j > i ? "-" + std::to_string(lanes[j]) : "");
        i = j + 1;
    }
    return s;
}

/* "lane 7 waits" / "lanes 0-15 wait" */
inline std::string some(const char *what, const std::vector<int> &who, const char *one, const char *many) {
    return std::string(what) + (who.size() == 1 ? " " : "s ") + lane_list(who) + " " + (who.size() == 1 ? one : many);
}

inline std::string where(const Fiber &f) {
    switch (f.wait) {
    case Wait::Done: return "returned";
    case Wait::Barrier: return std::string("at threadgroup_barrier (") + f.file + ":" + std::to_string(f.line) + ")";
    case Wait::Simd: return std::string("at ") + f.what + " (" + f.file + ":" + std::to_string(f.line) + ")";
    default: return "running";
    }
}

/* Runs fn for every thread of n_tg threadgroups of n_sg simdgroups (32 threads each) with
 * smem bytes of threadgroup memory; "" or the first divergence found. */
inline std::string dispatch(uint n_tg, uint n_sg, size_t smem, const std::function<void(const Thread &)> &fn) {
    const uint n = n_sg * 32u;
    Sched s;
    s.body = &fn;
    s.fibers.resize(n);
    const size_t stack_bytes = 64 * 1024;
    for (auto &f : s.fibers) f.stack.reset(new char[stack_bytes]);
    std::vector<std::max_align_t> tgmem((smem + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t) + 1);
    Sched *outer = current_sched();
    current_sched() = &s;
    std::string err;
    for (uint g = 0; g < n_tg && err.empty(); g++) {
        std::memset(tgmem.data(), 0xA5, tgmem.size() * sizeof(std::max_align_t)); /* threadgroup memory starts undefined */
        for (uint t = 0; t < n; t++) {
            Fiber &f = s.fibers[t];
            f.wait = Wait::Ready;
            f.th = Thread{g, n_tg, t, n, (ushort)(t % 32u), (ushort)(t / 32u), (ushort)n_sg, g * n + t, tgmem.data()};
            start_fiber(f, stack_bytes);
        }
        for (;;) {
            for (uint t = 0; t < n; t++) {
                if (s.fibers[t].wait != Wait::Ready) continue;
                s.current = (int)t;
                swapcontext(&s.main, &s.fibers[t].uc);
            }
            s.current = -1;
            bool progressed = false;
            for (uint sg = 0; sg < n_sg && err.empty(); sg++) {
                Fiber *lanes = &s.fibers[sg * 32u];
                std::vector<int> at, other;
                for (int l = 0; l < 32; l++) (lanes[l].wait == Wait::Simd ? at : other).push_back(l);
                if (at.empty()) continue;
                bool same = other.empty();
                for (int l : at) same = same && where(lanes[l]) == where(lanes[at[0]]);
                if (!same) {
                    const Fiber &a = lanes[at[0]];
                    std::vector<int> elsewhere;
                    for (int l = 0; l < 32; l++)
                        if (where(lanes[l]) != where(a)) elsewhere.push_back(l);
                    std::vector<int> here;
                    for (int l = 0; l < 32; l++)
                        if (where(lanes[l]) == where(a)) here.push_back(l);
                    err = std::string("divergent ") + a.what + " at " + a.file + ":" + std::to_string(a.line) + " in threadgroup " + std::to_string(g) +
                          ", simdgroup " + std::to_string(sg) + ": " + some("lane", here, "waits", "wait") + " there, " +
                          some("lane", elsewhere, "is", "are") + " elsewhere (lane " + std::to_string(elsewhere[0]) + " " + where(lanes[elsewhere[0]]) + ")";
                    break;
                }
                /* simd_sum: the butterfly order of a CUDA warp's shuffle reduction, the same result in every lane */
                float v[32];
                for (int l = 0; l < 32; l++) v[l] = lanes[l].in;
                for (int off = 16; off >= 1; off >>= 1) {
                    float w[32];
                    for (int l = 0; l < 32; l++) w[l] = v[l] + v[l ^ off];
                    std::memcpy(v, w, sizeof v);
                }
                for (int l = 0; l < 32; l++) {
                    lanes[l].out = v[l];
                    lanes[l].wait = Wait::Ready;
                }
                progressed = true;
            }
            if (!err.empty()) break;
            if (progressed) continue;
            uint waiting = 0, done = 0;
            for (auto &f : s.fibers) {
                waiting += f.wait == Wait::Barrier;
                done += f.wait == Wait::Done;
            }
            if (done == n) break;
            const Fiber *first = nullptr;
            for (auto &f : s.fibers)
                if (f.wait == Wait::Barrier && !first) first = &f;
            bool one_line = waiting == n;
            for (auto &f : s.fibers) one_line = one_line && f.line == first->line && !std::strcmp(f.file, first->file);
            if (!one_line) {
                std::vector<int> here, elsewhere;
                for (uint t = 0; t < n; t++) (where(s.fibers[t]) == where(*first) ? here : elsewhere).push_back((int)t);
                err = std::string("divergent threadgroup_barrier at ") + first->file + ":" + std::to_string(first->line) + " in threadgroup " + std::to_string(g) +
                      ": " + some("thread", here, "waits", "wait") + " there, " + some("thread", elsewhere, "is", "are") + " elsewhere (thread " +
                      std::to_string(elsewhere[0]) + " " + where(s.fibers[(size_t)elsewhere[0]]) + ")";
                break;
            }
            for (auto &f : s.fibers) f.wait = Wait::Ready;
        }
    }
    current_sched() = outer;
    return err;
}

}  // namespace shim

/* ---- the collectives our kernels use ---- */

static inline float simd_sum(float v, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return shim::park(shim::Wait::Simd, "simd_sum", file, line, v);
}

static inline void threadgroup_barrier(mem_flags, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    shim::park(shim::Wait::Barrier, "threadgroup_barrier", file, line, 0.0f);
}

}  // namespace metal

using namespace metal;

#define ENTQ_MTL_TG0
#define kernel
#define device
#define constant const
#define threadgroup
#define thread

#endif /* ENTQ_METAL_SHIM_H */
