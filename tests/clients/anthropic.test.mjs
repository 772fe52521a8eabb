// The official Anthropic SDK (@anthropic-ai/sdk) against /v1/messages (issue 18, part 3), on an
// API server started with `--auth keys` and a mock worker: the key goes as the SDK sends it
// (`apiKey` -> x-api-key; `authToken` -> Authorization: Bearer). messages.create and
// messages.stream, plain and with a tool use (the mock answers a chat with `tools` with one call
// per tool whose string parameters hold the user's text and whose integers are 42, and a tool
// result with text: src/providers/mock/mock_tool_calls.hpp), and errors surfacing as the SDK's
// own typed errors with Anthropic's error object.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { url, model, testCase } from './cases.mjs';

const key = process.env.LLMPROXY_KEY;
assert.ok(key, 'LLMPROXY_KEY is not set: run these tests through compat_e2e_test');

function client(credentials = { apiKey: key }) {
  return new Anthropic({ baseURL: url, maxRetries: 0, timeout: 30_000, ...credentials });
}

const weather = {
  name: 'get_weather',
  description: 'The weather in a city for some days',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string' }, days: { type: 'integer' } },
    required: ['city'],
  },
};

test('messages.create: a text reply, with a system prompt as blocks, and the key as x-api-key', async () => {
  const c = testCase('chat');
  const msg = await client().messages.create({
    model,
    max_tokens: c.max_tokens,
    system: [{ type: 'text', text: 'Answer briefly.' }],
    messages: [{ role: 'user', content: [{ type: 'text', text: c.prompt }] }],
    temperature: 0.5,
    top_p: 0.9,
    stop_sequences: ['\n\nHuman:'],
  });
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.match(msg.id, /^msg_/);
  assert.equal(msg.model, model);
  assert.deepEqual(msg.content, [{ type: 'text', text: c.text }]);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.stop_sequence, null);
  assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0, JSON.stringify(msg.usage));
});

test('messages.create with a tool: a tool_use block, then the tool_result gets text', async () => {
  const c = testCase('tools');
  const messages = [{ role: 'user', content: c.prompt }];
  const msg = await client().messages.create({ model, max_tokens: 100, messages, tools: [weather] });
  assert.equal(msg.stop_reason, 'tool_use');
  const uses = msg.content.filter((b) => b.type === 'tool_use');
  assert.equal(uses.length, 1, JSON.stringify(msg.content));
  assert.equal(uses[0].name, 'get_weather');
  assert.ok(uses[0].id.length > 0);
  assert.deepEqual(uses[0].input, { city: c.prompt, days: 42 });

  // The application runs the tool and sends its answer back: a text reply.
  const after = await client().messages.create({
    model,
    max_tokens: c.max_tokens,
    tools: [weather],
    messages: [
      ...messages,
      { role: 'assistant', content: msg.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: uses[0].id, content: 'sunny, 24 degrees' }] },
    ],
  });
  assert.equal(after.stop_reason, 'end_turn');
  assert.deepEqual(after.content, [{ type: 'text', text: c.text }]);

  // tool_choice none: text, not a call.
  const none = await client().messages.create({
    model, max_tokens: c.max_tokens, messages, tools: [weather], tool_choice: { type: 'none' },
  });
  assert.deepEqual(none.content, [{ type: 'text', text: c.text }]);
});

test('messages.stream: text deltas and the final message the SDK assembles, the key as a bearer token', async () => {
  const c = testCase('chat');
  const stream = client({ authToken: key }).messages.stream({
    model, max_tokens: c.max_tokens, system: 'Answer briefly.', messages: [{ role: 'user', content: c.prompt }],
  });
  const events = [];
  let text = '';
  stream.on('streamEvent', (e) => events.push(e.type));
  stream.on('text', (delta) => { text += delta; });
  const final = await stream.finalMessage();
  assert.equal(text, c.text);
  assert.deepEqual(final.content, [{ type: 'text', text: c.text }]);
  assert.equal(final.stop_reason, 'end_turn');
  assert.ok(final.usage.input_tokens > 0 && final.usage.output_tokens > 0, JSON.stringify(final.usage));
  assert.equal(events[0], 'message_start');
  assert.equal(events.at(-1), 'message_stop');
  assert.equal(events.at(-2), 'message_delta');
  assert.equal(await stream.finalText(), c.text);
});

test('messages.stream with a tool: the tool_use input arrives as JSON deltas the SDK parses', async () => {
  const c = testCase('tools');
  const stream = client().messages.stream({
    model, max_tokens: 100, messages: [{ role: 'user', content: c.prompt }], tools: [weather],
    tool_choice: { type: 'tool', name: 'get_weather' },
  });
  let json = '';
  stream.on('inputJson', (partial) => { json += partial; });
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  assert.equal(final.content.length, 1, JSON.stringify(final.content));
  const use = final.content[0];
  assert.equal(use.type, 'tool_use');
  assert.equal(use.name, 'get_weather');
  assert.deepEqual(use.input, { city: c.prompt, days: 42 });
  assert.deepEqual(JSON.parse(json), use.input);
});

test('a failure mid-stream is the SDK APIError with an api_error', async () => {
  const c = testCase('failing');
  const stream = client().messages.stream({
    model, max_tokens: c.max_tokens, messages: [{ role: 'user', content: c.prompt }],
  });
  let text = '';
  stream.on('text', (delta) => { text += delta; });
  await assert.rejects(stream.finalMessage(), (err) => {
    assert.ok(err instanceof Anthropic.APIError, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.error?.type, 'error', JSON.stringify(err.error));
    assert.equal(err.error?.error?.type, 'api_error', JSON.stringify(err.error));
    return true;
  });
  assert.equal(text, c.text);
});

test('errors: a bad request, an unknown model, a bad key and a model the key may not use', async () => {
  // max_tokens is required, as Anthropic requires it.
  await assert.rejects(
    client().messages.create({ model, messages: [{ role: 'user', content: 'hi' }] }),
    (err) => {
      assert.ok(err instanceof Anthropic.BadRequestError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 400);
      assert.equal(err.error.type, 'error');
      assert.equal(err.error.error.type, 'invalid_request_error');
      assert.match(err.error.error.message, /max_tokens/);
      return true;
    });
  await assert.rejects(
    client().messages.create({ model, max_tokens: 2, messages: [{ role: 'user', content: 'hi' }], temperature: 3 }),
    (err) => err instanceof Anthropic.BadRequestError && err.error.error.type === 'invalid_request_error');
  await assert.rejects(
    client().messages.create({ model: 'mock-nowhere', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] }),
    (err) => {
      assert.ok(err instanceof Anthropic.NotFoundError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.error.error.type, 'not_found_error');
      return true;
    });
  for (const credentials of [{ apiKey: `llmp_${'x'.repeat(43)}` }, { authToken: `llmp_${'y'.repeat(43)}` }]) {
    await assert.rejects(
      client(credentials).messages.create({ model, max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] }),
      (err) => {
        assert.ok(err instanceof Anthropic.AuthenticationError, `got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 401);
        assert.equal(err.error.type, 'error');
        assert.equal(err.error.error.type, 'authentication_error');
        return true;
      });
  }
  await assert.rejects(
    client().messages.stream({ model: 'gpt-4o', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage(),
    (err) => {
      assert.ok(err instanceof Anthropic.PermissionDeniedError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 403);
      assert.equal(err.error.error.type, 'permission_error');
      return true;
    });
});
