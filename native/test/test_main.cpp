// Runs every registered native test (or those whose name contains argv[1]) and
// ends with the plain "N passed, N failed" line.
#include <cstring>

#include "test.h"

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    for (const auto &c : entq_test::registry()) {
        if (argc > 1 && !std::strstr(c.name, argv[1])) continue;
        int before = entq_test::failures();
        c.fn();
        bool ok = entq_test::failures() == before;
        std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.name);
        std::fflush(stdout);
        (ok ? passed : failed)++;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
