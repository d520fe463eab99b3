/* entq_prefix_code.h - length-limited prefix codes for the CPU layout
 * (entq_cpu_layout.h): optimal code lengths under a maximum length, and
 * canonical code words.
 *
 * Lengths come from package-merge (Larmore and Hirschberg): the optimal
 * lengths under a limit L are the leaves' multiplicities in the 2n - 2
 * lightest items of the L-th list, where list 1 is the leaves and list d
 * merges the leaves with pairs ("packages") of consecutive items of list d-1.
 * Since the leaves of every list's prefix are its lightest leaves, it is
 * enough to remember per list which items are leaves: O(n L) time.
 *
 * Bit order: LSB first. A decoder reads 64 bits at a byte address, shifts out
 * the bits already used and indexes its table with the low bits, so code
 * words are stored bit-reversed: the first bit of a canonical code word is
 * the lowest bit of the stream (entq_repack.h writes them).
 */
#ifndef ENTQ_PREFIX_CODE_H
#define ENTQ_PREFIX_CODE_H

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

/* Optimal lengths (<= max_len) for n symbols of weights w (all > 0), into len.
 * n == 1 gets length 0: one symbol needs no bits. Needs n <= 2^max_len. */
static inline void entq_prefix_lengths(const uint64_t * w, uint32_t n, uint32_t max_len, uint8_t * len) {
    std::fill(len, len + n, (uint8_t) 0);
    if (n <= 1) return;
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return w[a] < w[b]; });

    // is_leaf[d][i]: item i of list d is a leaf; cur: the weights of the current list
    std::vector<std::vector<uint8_t>> is_leaf(max_len);
    std::vector<uint64_t> cur(n), next;
    for (uint32_t i = 0; i < n; i++) cur[i] = w[order[i]];
    is_leaf[0].assign(n, 1);
    for (uint32_t d = 1; d < max_len; d++) {
        next.clear();
        is_leaf[d].clear();
        uint32_t li = 0;
        size_t pi = 0;
        const size_t np = cur.size() / 2;
        while (li < n || pi < np) {
            const uint64_t pw = pi < np ? cur[2 * pi] + cur[2 * pi + 1] : UINT64_MAX;
            if (li < n && w[order[li]] <= pw) {
                next.push_back(w[order[li++]]);
                is_leaf[d].push_back(1);
            } else {
                next.push_back(pw);
                is_leaf[d].push_back(0);
                pi++;
            }
        }
        cur.swap(next);
    }
    // take 2n - 2 items of the last list; its packages take twice as many of the list before
    size_t m = 2 * (size_t) n - 2;
    for (uint32_t d = max_len; d-- > 0 && m > 0;) {
        size_t leaves = 0;
        for (size_t i = 0; i < m; i++) leaves += is_leaf[d][i];
        for (size_t i = 0; i < leaves; i++) len[order[i]]++;
        m = 2 * (m - leaves);
    }
}

/* Canonical code words for lengths len (symbols of equal length in index
 * order, shorter lengths first), bit-reversed for an LSB-first stream. */
static inline void entq_prefix_codewords(const uint8_t * len, uint32_t n, uint32_t * word) {
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return len[a] < len[b]; });
    uint32_t code = 0, prev = 0;
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t i = order[k], l = len[i];
        code <<= (l - prev);
        prev = l;
        uint32_t r = 0;
        for (uint32_t b = 0; b < l; b++) r |= ((code >> b) & 1u) << (l - 1 - b);
        word[i] = r;
        code++;
    }
}

#endif /* ENTQ_PREFIX_CODE_H */
