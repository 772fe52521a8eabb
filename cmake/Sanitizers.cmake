# -DLLMPROXY_SANITIZE=ON builds everything with ASan + UBSan; scripts/test (and so CI) uses it.
# -DLLMPROXY_TSAN=ON builds everything with ThreadSanitizer instead (scripts/tsan, preset tsan);
# TSan cannot be combined with ASan, so the two options exclude each other.
if(LLMPROXY_SANITIZE AND LLMPROXY_TSAN)
  message(FATAL_ERROR "LLMPROXY_SANITIZE (ASan + UBSan) and LLMPROXY_TSAN (ThreadSanitizer) exclude each other")
endif()
if(LLMPROXY_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  # Beast/Asio coroutine frames are large; ASan's fake stack makes deep recursion fail otherwise.
  add_compile_definitions(LLMPROXY_SANITIZED=1)
endif()
if(LLMPROXY_TSAN)
  # -Wno-tsan: g++ warns (an error under -Werror) wherever a header uses std::atomic_thread_fence,
  # which TSan does not model; Boost.System and Asio do. Races it hides there would be reported
  # in Boost and, if ever, suppressed in tests/tsan.supp with that reason.
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  add_link_options(-fsanitize=thread)
endif()
