// Tool calling through both front doors with the official clients, against both upstream kinds:
// the driver (compat_e2e_test.cpp) starts a fake Ollama and a fake OpenAI-compatible server
// behind one worker, and a mock worker, and names a model of each in LLMPROXY_TOOL_MODELS. All
// three answer a chat with `tools` with one call per tool whose string parameters hold the
// user's text and whose integers are 42 (src/providers/mock/mock_tool_calls.hpp), and a tool
// result with text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { url, testCase } from './cases.mjs';

const models = JSON.parse(process.env.LLMPROXY_TOOL_MODELS ?? '[]');
assert.ok(models.length > 0, 'LLMPROXY_TOOL_MODELS is not set: run these tests through compat_e2e_test');

const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 30_000 });
const ollama = new Ollama({ host: `${url}/ollama` });

const weather = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city for some days',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, days: { type: 'integer' } },
      required: ['city'],
    },
  },
};

function checkOpenAICall(call, prompt) {
  assert.equal(call.type, 'function');
  assert.match(call.id, /^call_/);
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: prompt, days: 42 });
}

function checkOllamaCall(call, prompt) {
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(call.function.arguments, { city: prompt, days: 42 });
}

for (const model of models) {
  test(`openai SDK, ${model}: streamed tool call through the stream helper, then the tool's answer`, async () => {
    const c = testCase('tools');
    const messages = [{ role: 'user', content: c.prompt }];
    const stream = openai.chat.completions.stream({ model, messages, tools: [weather], tool_choice: 'auto' });
    const deltas = [];
    stream.on('tool_calls.function.arguments.done', (e) => deltas.push(e.name));
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices.length, 1);
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    const msg = final.choices[0].message;
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.tool_calls.length, 1);
    checkOpenAICall(msg.tool_calls[0], c.prompt);
    assert.deepEqual(deltas, ['get_weather'], 'the SDK saw the arguments complete');

    // The application runs the tool and sends its answer back: a text reply.
    const after = await openai.chat.completions.create({
      model,
      max_tokens: c.max_tokens,
      tools: [weather],
      messages: [
        ...messages,
        { role: 'assistant', content: null, tool_calls: msg.tool_calls },
        { role: 'tool', tool_call_id: msg.tool_calls[0].id, content: 'sunny, 24 degrees' },
      ],
    });
    assert.notEqual(after.choices[0].finish_reason, 'tool_calls');
    assert.equal(after.choices[0].message.content, c.text);
    assert.equal(after.choices[0].message.tool_calls, undefined);
  });

  test(`openai SDK, ${model}: whole reply with tool_calls; tool_choice none gets text`, async () => {
    const c = testCase('tools');
    const messages = [{ role: 'user', content: c.prompt }];
    const whole = await openai.chat.completions.create({ model, messages, tools: [weather] });
    assert.equal(whole.object, 'chat.completion');
    assert.equal(whole.choices[0].finish_reason, 'tool_calls');
    assert.equal(whole.choices[0].message.content, null);
    assert.equal(whole.choices[0].message.tool_calls.length, 1);
    checkOpenAICall(whole.choices[0].message.tool_calls[0], c.prompt);
    assert.ok(whole.usage.completion_tokens > 0);

    const none = await openai.chat.completions.create({
      model, messages, tools: [weather], tool_choice: 'none', max_tokens: c.max_tokens,
    });
    assert.notEqual(none.choices[0].finish_reason, 'tool_calls');
    assert.equal(none.choices[0].message.content, c.text);
    assert.equal(none.choices[0].message.tool_calls, undefined);
  });

  test(`ollama client, ${model}: tool calls streamed and not, then the tool's answer`, async () => {
    const c = testCase('tools');
    const messages = [{ role: 'user', content: c.prompt }];
    const r = await ollama.chat({ model, messages, tools: [weather], stream: false });
    assert.equal(r.done, true);
    assert.equal(r.done_reason, 'stop');
    assert.equal(r.message.role, 'assistant');
    assert.equal(r.message.tool_calls.length, 1);
    checkOllamaCall(r.message.tool_calls[0], c.prompt);

    const parts = [];
    for await (const part of await ollama.chat({ model, messages, tools: [weather], stream: true })) {
      parts.push(part);
    }
    const withCalls = parts.filter((p) => p.message?.tool_calls?.length > 0);
    assert.equal(withCalls.length, 1, JSON.stringify(parts));
    assert.equal(withCalls[0].done, false);
    checkOllamaCall(withCalls[0].message.tool_calls[0], c.prompt);
    assert.equal(parts.at(-1).done, true);
    assert.equal(parts.at(-1).done_reason, 'stop');

    // The tool's answer, named as Ollama clients name it (no call id needed).
    const after = await ollama.chat({
      model,
      stream: false,
      tools: [weather],
      options: { num_predict: c.max_tokens },
      messages: [
        ...messages,
        { role: 'assistant', content: '', tool_calls: r.message.tool_calls },
        { role: 'tool', tool_name: 'get_weather', content: 'sunny, 24 degrees' },
      ],
    });
    assert.equal(after.message.content, c.text);
    assert.equal(after.message.tool_calls, undefined);
  });
}

// Structured output (issue 17, item 2): the fakes answer a request for JSON with JSON (a schema's
// string properties hold the usual mock text, integers 42; `json` mode {"answer": text}), so the
// request must reach each upstream in its own terms (response_format <-> format).
const schema = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } };
for (const model of models.filter((m) => m !== 'mock')) {
  test(`structured output, ${model}: json_schema and json_object via openai, a format schema via ollama`, async () => {
    const c = testCase('tools');
    const messages = [{ role: 'user', content: c.prompt }];
    const bySchema = await openai.chat.completions.create({
      model, messages, max_tokens: c.max_tokens,
      response_format: { type: 'json_schema', json_schema: { name: 'weather', schema } },
    });
    assert.deepEqual(JSON.parse(bySchema.choices[0].message.content), { city: c.text, days: 42 });
    const jsonMode = await openai.chat.completions.create({
      model, messages, max_tokens: c.max_tokens, response_format: { type: 'json_object' },
    });
    assert.deepEqual(JSON.parse(jsonMode.choices[0].message.content), { answer: c.text });
    const r = await ollama.chat({ model, messages, format: schema, stream: false, options: { num_predict: c.max_tokens } });
    assert.deepEqual(JSON.parse(r.message.content), { city: c.text, days: 42 });
  });
}
