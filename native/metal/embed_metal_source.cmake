# Writes OUT, a C++ header holding entq_tile.metal as the string
# entq_metal_source, with entq_metal_args.h pasted in place of its #include
# (the Metal compiler builds it from source at run time, with no include
# path; ggml does the same with ggml-metal-impl.h).
#   cmake -DMETAL_DIR=<native/metal> -DOUT=<file> -P embed_metal_source.cmake
file(READ "${METAL_DIR}/entq_tile.metal" KERNELS)
file(READ "${METAL_DIR}/entq_metal_args.h" ARGS)
string(REPLACE "#include \"entq_metal_args.h\"" "${ARGS}" KERNELS "${KERNELS}")
string(FIND "${KERNELS}" "#include \"" LEFT)
if (NOT LEFT EQUAL -1)
    message(FATAL_ERROR "entq_tile.metal includes a file other than entq_metal_args.h: the embedded source would not compile")
endif()
set(CONTENT "// generated from native/metal/entq_tile.metal by embed_metal_source.cmake\nstatic const char entq_metal_source[] = R\"ENTQ_MSL(${KERNELS})ENTQ_MSL\";\n")
# unchanged content keeps the file's time, so nothing rebuilds
if (EXISTS "${OUT}")
    file(READ "${OUT}" OLD)
endif()
if (NOT "${OLD}" STREQUAL "${CONTENT}")
    file(WRITE "${OUT}" "${CONTENT}")
endif()
