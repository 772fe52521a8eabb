# One place for the warning flags every target gets (ClickHouse builds with -Werror too).
add_compile_options(-Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
if(LLMPROXY_WERROR)
  add_compile_options(-Werror)
endif()
