// What the C++ driver (tests/integration/compat_e2e_test.cpp) passes in the environment:
//   LLMPROXY_URL    the API server, e.g. http://127.0.0.1:41234
//   LLMPROXY_MODEL  a model the mock workers serve, as GET /v1/models lists it
//   LLMPROXY_CASES  {"<case>": {"prompt", "max_tokens", "text"}}: the mock provider's exact
//                   answer (src/providers/mock/mock_text.hpp) for each prompt
import assert from 'node:assert/strict';

function env(name) {
  const v = process.env[name];
  assert.ok(v, `${name} is not set: run these tests through compat_e2e_test`);
  return v;
}

export const url = env('LLMPROXY_URL');
export const model = env('LLMPROXY_MODEL');
const cases = JSON.parse(env('LLMPROXY_CASES'));

export function testCase(name) {
  const c = cases[name];
  assert.ok(c, `no case ${name} in LLMPROXY_CASES`);
  return c;
}
