#pragma once
// mask_secrets: a connection string or URL with its secrets replaced by "***", for logs and
// error messages. Every form the processes take:
//   scheme://user:secret@host/...            (postgres, postgresql, amqp, http)
//   ...?password=secret&sslpassword=secret   (URI query parameters, any key with "password")
//   host=h password=secret user=u            (libpq keyword/value strings, 'quoted values' too)
// A string it cannot make sense of is cut at the first thing it does not understand: it may
// say less than the original, never a secret.
//
// Pure function, any thread.

#include <string>
#include <string_view>

namespace llmp {

std::string mask_secrets(std::string_view conn);

}  // namespace llmp
