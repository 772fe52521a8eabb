# Everything comes from Debian's packages; scripts/lib/common.sh installs them.
find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(rabbitmq-c REQUIRED CONFIG)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(simdjson REQUIRED)
find_package(PostgreSQL REQUIRED)
find_package(OpenSSL REQUIRED)  # libcrypto: API keys (src/keys)
find_package(PkgConfig REQUIRED)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)  # Redis: fleet-wide limits (src/limits)
if(LLMPROXY_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# Boost.Asio/Beast settings shared by every target that includes them.
add_library(llmp_asio INTERFACE)
target_link_libraries(llmp_asio INTERFACE Boost::headers Threads::Threads)
target_compile_definitions(llmp_asio INTERFACE
  BOOST_ASIO_NO_DEPRECATED
  BOOST_BEAST_USE_STD_STRING_VIEW
  BOOST_ASIO_DISABLE_BOOST_COROUTINE)
