// The official clients against an API server started with `--auth keys` (issue 14): each sends the
// key the way an application configures it — the openai SDK's `apiKey` (Authorization: Bearer),
// the ollama client's `headers` option — and gets its answer; without a usable key, or with a
// model the key may not use, each client raises its own error type with the status and code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { url, model, testCase } from './cases.mjs';

const key = process.env.LLMPROXY_KEY;
assert.ok(key, 'LLMPROXY_KEY is not set: run these tests through compat_e2e_test');

function openai(apiKey) {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 30_000 });
}

function ollama(headers) {
  return new Ollama({ host: `${url}/ollama`, headers });
}

test('openai: apiKey is the key; a streamed chat and the model list work', async () => {
  const c = testCase('chat');
  const client = openai(key);
  let text = '';
  for await (const chunk of await client.chat.completions.create({
    model, messages: [{ role: 'user', content: c.prompt }], max_tokens: c.max_tokens, stream: true,
  })) {
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, c.text);
  const models = [];
  for await (const m of client.models.list()) {
    models.push(m.id);
  }
  assert.ok(models.includes(model), models.join(', '));
});

test('openai: an unknown key raises AuthenticationError with invalid_api_key', async () => {
  const client = openai(`llmp_${'x'.repeat(43)}`);
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }),
    (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 401);
      assert.equal(err.code, 'invalid_api_key');
      return true;
    });
  await assert.rejects(client.models.list(), (err) => err instanceof OpenAI.AuthenticationError);
});

test('openai: a model the key may not use raises PermissionDeniedError with model_not_allowed', async () => {
  await assert.rejects(
    openai(key).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    (err) => {
      assert.ok(err instanceof OpenAI.PermissionDeniedError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 403);
      assert.equal(err.code, 'model_not_allowed');
      return true;
    });
});

test('ollama: the key in the headers option; chat streamed and not, and list()', async () => {
  const c = testCase('chat');
  const client = ollama({ Authorization: `Bearer ${key}` });
  const whole = await client.chat({
    model, messages: [{ role: 'user', content: c.prompt }], options: { num_predict: c.max_tokens }, stream: false,
  });
  assert.equal(whole.message.content, c.text);
  let text = '';
  for await (const part of await client.chat({
    model, messages: [{ role: 'user', content: c.prompt }], options: { num_predict: c.max_tokens }, stream: true,
  })) {
    text += part.message.content;
  }
  assert.equal(text, c.text);
  const list = await client.list();
  assert.ok(list.models.some((m) => m.name === model), JSON.stringify(list));
});

test('ollama: no key, or a wrong one, is a 401 ResponseError; a model not allowed a 403', async () => {
  for (const headers of [undefined, { Authorization: `Bearer llmp_${'y'.repeat(43)}` }]) {
    await assert.rejects(
      ollama(headers).chat({ model, messages: [{ role: 'user', content: 'hi' }], stream: false }),
      (err) => {
        assert.equal(err.name, 'ResponseError', `${err}`);
        assert.equal(err.status_code, 401);
        assert.ok(err.error.length > 0);
        return true;
      });
  }
  await assert.rejects(
    ollama({ Authorization: `Bearer ${key}` }).generate({ model: 'gpt-4o', prompt: 'hi', stream: false }),
    (err) => {
      assert.equal(err.name, 'ResponseError', `${err}`);
      assert.equal(err.status_code, 403);
      return true;
    });
});
