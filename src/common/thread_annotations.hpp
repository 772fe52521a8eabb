#pragma once
// Clang's thread-safety analysis annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html):
// GUARDED_BY(mu) on a member says "read and written only with mu held", REQUIRES(mu) on a
// function "call it with mu held", EXCLUDES(mu) "call it without", ACQUIRE/RELEASE on the lock
// functions of a CAPABILITY type or a SCOPED_CAPABILITY guard. Under clang with
// -Wthread-safety (scripts/thread-safety, the thread_safety_check test, the fuzz build) a
// violation is a compile error; under other compilers (g++ builds the product) they expand to
// nothing. Use them with llmp::mutex and its guards (common/mutex.hpp): std::mutex carries no
// annotations in libstdc++.
//
// Threading: compile-time only, no runtime effect.

#if defined(__clang__)
#define LLMP_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define LLMP_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) LLMP_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY LLMP_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) LLMP_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) LLMP_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) LLMP_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) LLMP_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) LLMP_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) LLMP_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) LLMP_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) LLMP_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) LLMP_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) LLMP_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) LLMP_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) LLMP_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE_SHARED(...) LLMP_THREAD_ANNOTATION(try_acquire_shared_capability(__VA_ARGS__))
#define EXCLUDES(...) LLMP_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) LLMP_THREAD_ANNOTATION(assert_capability(x))
#define ASSERT_SHARED_CAPABILITY(x) LLMP_THREAD_ANNOTATION(assert_shared_capability(x))
#define RETURN_CAPABILITY(x) LLMP_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS LLMP_THREAD_ANNOTATION(no_thread_safety_analysis)
