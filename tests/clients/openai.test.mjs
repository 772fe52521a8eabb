// The official OpenAI Node SDK against llmproxy's /v1 routes, unchanged but for the base URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { url, model, testCase } from './cases.mjs';

// No retries: a failure must show, not be papered over.
const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 30_000 });

test('streaming chat with include_usage: the mock text and real usage counts', async () => {
  const c = testCase('chat');
  const messages = [{ role: 'user', content: c.prompt }];
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: c.max_tokens, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let roles = [];
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, model);
    if (chunk.choices.length > 0) {
      const choice = chunk.choices[0];
      if (choice.delta.role) roles.push([chunks, choice.delta.role]);
      text += choice.delta.content ?? '';
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, c.text);
  assert.deepEqual(roles, [[1, 'assistant']], 'the role comes once, in the first chunk');
  assert.equal(finish, 'stop');
  assert.ok(usage, 'the usage chunk came');
  assert.equal(usage.completion_tokens, c.max_tokens);
  assert.ok(usage.prompt_tokens > 0);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);

  // Non-streaming, same request: same text, same counts.
  const whole = await client.chat.completions.create({ model, messages, max_tokens: c.max_tokens });
  assert.equal(whole.object, 'chat.completion');
  assert.equal(whole.model, model);
  assert.equal(whole.choices.length, 1);
  assert.equal(whole.choices[0].message.role, 'assistant');
  assert.equal(whole.choices[0].message.content, c.text);
  assert.equal(whole.choices[0].finish_reason, 'stop');
  assert.deepEqual(whole.usage, usage);
});

test('completions, streaming and not', async () => {
  const c = testCase('completion');
  const whole = await client.completions.create({ model, prompt: c.prompt, max_tokens: c.max_tokens });
  assert.equal(whole.object, 'text_completion');
  assert.equal(whole.choices[0].text, c.text);
  assert.equal(whole.choices[0].finish_reason, 'stop');
  assert.equal(whole.usage.completion_tokens, c.max_tokens);

  const stream = await client.completions.create({ model, prompt: c.prompt, max_tokens: c.max_tokens, stream: true });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'text_completion');
    text += chunk.choices[0]?.text ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, c.text);
  assert.equal(finish, 'stop');
});

test('models.list() has the model, models.retrieve() finds it', async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    assert.equal(m.object, 'model');
    ids.push(m.id);
  }
  assert.ok(ids.includes(model), `${model} not in ${JSON.stringify(ids)}`);
  const one = await client.models.retrieve(model);
  assert.equal(one.id, model);
  assert.equal(one.object, 'model');
  await assert.rejects(client.models.retrieve('no-such-model'), OpenAI.NotFoundError);
});

test('an unknown model raises NotFoundError', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }),
    (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      return true;
    });
});

test('a failure mid-stream raises APIError', async () => {
  const c = testCase('failing');
  const stream = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: c.prompt }], max_tokens: c.max_tokens, stream: true,
  });
  let text = '';
  await assert.rejects(async () => {
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
    }
  }, OpenAI.APIError);
  assert.equal(text, c.text, 'the tokens before the failure arrived');
});
