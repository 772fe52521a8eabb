# -DLLMPROXY_FUZZ=ON: a separate build (e.g. build/fuzz, CMAKE_CXX_COMPILER=clang++) that holds only
# the libFuzzer targets of tests/fuzz and the parser code they call (tests/fuzz/README.md).
# libFuzzer comes with clang (Debian: clang + libclang-rt-14-dev), so this build is clang only;
# the main build stays on g++.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "LLMPROXY_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
endif()
# Every object gets the coverage instrumentation and ASan + UBSan; only the fuzz targets link
# libFuzzer's main (tests/fuzz/CMakeLists.txt adds -fsanitize=fuzzer to them).
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer)
add_link_options(-fsanitize=address,undefined)
add_compile_definitions(LLMPROXY_SANITIZED=1 LLMPROXY_FUZZING=1)
# Warnings.cmake names g++-only warnings (-Wno-mismatched-new-delete, ...); clang only needs to
# ignore them.
add_compile_options(-Wno-unknown-warning-option)
# clang checks the thread-safety annotations (common/thread_annotations.hpp) of what it compiles
# here; scripts/thread-safety (the thread_safety_check test) checks the rest of the locking code.
add_compile_options(-Wthread-safety -Werror=thread-safety)
# clang 14 implements C++20 coroutines but, with libstdc++'s <coroutine>, only under
# -fcoroutines-ts, and Boost 1.74's Asio does not detect them: the HTTP headers (net::awaitable in
# http/server.hpp) need both.
add_compile_options(-fcoroutines-ts)
add_compile_definitions(BOOST_ASIO_HAS_CO_AWAIT)
