// The Responses API (POST /v1/responses and GET/DELETE /v1/responses/{id}) with the official
// OpenAI Node SDK, unchanged but for the base URL. The driver (compat_e2e_test.cpp) runs the API
// with --responses-db on, a mock worker and the audit service storing into a scratch database, so
// stored responses can be read back. The mock answers a request with tools with one call per tool
// (string parameters hold the user's text, integers are 42) and a tool result with the text of
// the last user message (src/providers/mock/mock_tool_calls.hpp).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { url, model, testCase } from './cases.mjs';

// No retries: a failure must show, not be papered over.
const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 30_000 });

const weather = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city for some days',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' }, days: { type: 'integer' } },
    required: ['city'],
  },
  strict: false,
};

function checkText(r, c) {
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_/);
  assert.equal(r.status, 'completed');
  assert.equal(r.model, model);
  assert.equal(r.output.length, 1);
  const msg = r.output[0];
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.status, 'completed');
  assert.equal(msg.content[0].type, 'output_text');
  assert.equal(msg.content[0].text, c.text);
  assert.equal(r.output_text, c.text);
  assert.equal(r.usage.output_tokens, c.max_tokens);
  assert.ok(r.usage.input_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
}

test('responses.create, not streamed: the mock text as one message; retrieve returns the same response', async () => {
  const c = testCase('chat');
  const r = await client.responses.create({
    model, input: c.prompt, instructions: 'Be brief.', max_output_tokens: c.max_tokens, temperature: 0.25, top_p: 0.5,
    metadata: { suite: 'responses' },
  });
  checkText(r, c);
  assert.equal(r.instructions, 'Be brief.');
  assert.equal(r.max_output_tokens, c.max_tokens);
  assert.equal(r.temperature, 0.25);
  assert.equal(r.top_p, 0.5);
  assert.equal(r.store, true);
  assert.deepEqual(r.metadata, { suite: 'responses' });

  const got = await client.responses.retrieve(r.id);
  checkText(got, c);
  assert.equal(got.id, r.id);
  assert.equal(got.output[0].id, r.output[0].id);
  assert.deepEqual(got.usage, r.usage);
  assert.equal(got.instructions, 'Be brief.');
  assert.deepEqual(got.metadata, { suite: 'responses' });
});

test('responses.stream: the semantic events in order, sequence numbers from 0, and finalResponse', async () => {
  const c = testCase('chat');
  const stream = client.responses.stream({ model, input: c.prompt, max_output_tokens: c.max_tokens });
  const types = [];
  const seqs = [];
  let deltas = '';
  stream.on('event', (e) => {
    types.push(e.type);
    seqs.push(e.sequence_number);
  });
  stream.on('response.output_text.delta', (e) => { deltas += e.delta; });
  const final = await stream.finalResponse();
  checkText(final, c);
  assert.equal(deltas, c.text);
  assert.deepEqual(seqs, seqs.map((_, i) => i), 'sequence_number counts every event from 0');
  const distinct = types.filter((t, i) => t !== types[i - 1]);
  assert.deepEqual(distinct, [
    'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
    'response.output_text.delta', 'response.output_text.done', 'response.content_part.done',
    'response.output_item.done', 'response.completed',
  ]);
  const got = await client.responses.retrieve(final.id);
  assert.equal(got.output_text, c.text);
});

test('a function tool: streamed call with argument events; previous_response_id continues with its output', async () => {
  const c = testCase('tools');
  const stream = client.responses.stream({ model, input: c.prompt, tools: [weather], tool_choice: 'auto' });
  const argsDone = [];
  stream.on('response.function_call_arguments.done', (e) => argsDone.push(e.name));
  const first = await stream.finalResponse();
  assert.equal(first.status, 'completed');
  assert.equal(first.output.length, 1);
  const call = first.output[0];
  assert.equal(call.type, 'function_call');
  assert.equal(call.name, 'get_weather');
  assert.match(call.call_id, /^call_/);
  assert.deepEqual(JSON.parse(call.arguments), { city: c.prompt, days: 42 });
  assert.deepEqual(argsDone, ['get_weather']);
  assert.equal(first.tools[0].name, 'get_weather');

  // The application runs the tool and sends only its output: the conversation is the stored one.
  const second = await client.responses.create({
    model,
    previous_response_id: first.id,
    tools: [weather],
    max_output_tokens: c.max_tokens,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny, 24 degrees' }],
  });
  assert.equal(second.status, 'completed');
  assert.equal(second.previous_response_id, first.id);
  assert.equal(second.output_text, c.text, 'the mock answered the user message of the first response');

  // Without the earlier response the same input has no user message: not the same answer.
  const alone = await client.responses.create({
    model, tools: [weather], max_output_tokens: c.max_tokens,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny, 24 degrees' }],
  });
  assert.notEqual(alone.output_text, c.text);
  assert.ok(second.usage.input_tokens > alone.usage.input_tokens);
});

test('input items are listed, newest first by default, with cursor paging', async () => {
  const c = testCase('chat');
  const r = await client.responses.create({
    model, max_output_tokens: c.max_tokens,
    input: [
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'input_text', text: c.prompt }] },
    ],
  });
  const page = await client.responses.inputItems.list(r.id);
  assert.equal(page.data.length, 2);
  assert.equal(page.data[0].type, 'message');
  assert.equal(page.data[0].role, 'user');
  assert.equal(page.data[0].content[0].type, 'input_text');
  assert.equal(page.data[0].content[0].text, c.prompt);
  assert.equal(page.data[1].role, 'developer');
  const all = [];
  for await (const item of client.responses.inputItems.list(r.id, { limit: 1, order: 'asc' })) {
    all.push(item.role);
  }
  assert.deepEqual(all, ['developer', 'user']);
});

test('delete removes a stored response; store:false is never readable; unknown ids are 404 errors', async () => {
  const c = testCase('chat');
  const r = await client.responses.create({ model, input: c.prompt, max_output_tokens: c.max_tokens });
  await client.responses.delete(r.id);
  await assert.rejects(client.responses.retrieve(r.id), (e) => e instanceof OpenAI.NotFoundError);
  await assert.rejects(client.responses.delete(r.id), (e) => e instanceof OpenAI.NotFoundError);
  await assert.rejects(
    client.responses.create({ model, input: 'and then?', previous_response_id: r.id }),
    (e) => e instanceof OpenAI.NotFoundError,
  );

  const unstored = await client.responses.create({ model, input: c.prompt, max_output_tokens: 2, store: false });
  assert.equal(unstored.store, false);
  await assert.rejects(client.responses.retrieve(unstored.id), (e) => e instanceof OpenAI.NotFoundError);

  await assert.rejects(client.responses.retrieve('resp_00000000-0000-4000-8000-000000000000'), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.code, 'not_found');
    assert.equal(e.type, 'invalid_request_error');
    return true;
  });
});

test('errors are OpenAI error objects: a bad body is a 400, an unknown model a 404', async () => {
  await assert.rejects(client.responses.create({ model, input: [] }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.code, 'invalid_field');
    return true;
  });
  await assert.rejects(
    client.responses.create({ model, input: 'hi', tools: [{ type: 'web_search' }] }),
    (e) => e instanceof OpenAI.BadRequestError,
  );
  await assert.rejects(client.responses.create({ model: 'no-such-model', input: 'hi' }), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.code, 'model_not_found');
    return true;
  });
});

test('a failure mid-stream is an error event and response.failed', async () => {
  const c = testCase('failing');
  const stream = await client.responses.create({ model, input: c.prompt, max_output_tokens: c.max_tokens, stream: true });
  const types = [];
  let text = '';
  let failed = null;
  for await (const e of stream) {
    types.push(e.type);
    if (e.type === 'response.output_text.delta') text += e.delta;
    if (e.type === 'response.failed') failed = e.response;
  }
  assert.equal(text, c.text);
  assert.deepEqual(types.slice(-2), ['error', 'response.failed']);
  assert.equal(failed.status, 'failed');
  assert.ok(failed.error.message.length > 0);
});
