# -DLLMPROXY_SANITIZE=ON builds everything with ASan + UBSan; scripts/test (and so CI) uses it.
if(LLMPROXY_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  # Beast/Asio coroutine frames are large; ASan's fake stack makes deep recursion fail otherwise.
  add_compile_definitions(LLMPROXY_SANITIZED=1)
endif()
