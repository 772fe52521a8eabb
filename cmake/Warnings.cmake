# One place for the warning flags every target gets (ClickHouse builds with -Werror too).
add_compile_options(-Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
# g++ 12 at -O2 flags Asio's coroutine-frame operator delete (a false positive, GCC PR 109224).
add_compile_options(-Wno-mismatched-new-delete)
# ... and, with inlining, Beast's parser internals (boost::optional) as maybe-uninitialized.
add_compile_options(-Wno-maybe-uninitialized)
# ... and at -O3, std::string copies as -Wrestrict (GCC PR 105329).
add_compile_options(-Wno-restrict)
if(LLMPROXY_WERROR)
  add_compile_options(-Werror)
endif()
