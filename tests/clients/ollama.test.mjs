// The official ollama JS client against llmproxy's /ollama routes, host set to <proxy>/ollama.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { url, model, testCase } from './cases.mjs';

const ollama = new Ollama({ host: `${url}/ollama` });

function checkFinal(part, c) {
  assert.equal(part.done, true);
  assert.equal(part.done_reason, 'stop');
  assert.equal(part.eval_count, c.max_tokens);
  assert.ok(part.prompt_eval_count > 0);
  for (const k of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration']) {
    assert.ok(Number.isInteger(part[k]) && part[k] >= 0, `${k} = ${part[k]}`);
  }
  assert.ok(part.total_duration > 0);
  assert.ok(!Number.isNaN(Date.parse(part.created_at)), part.created_at);
}

test('chat, not streamed', async () => {
  const c = testCase('chat');
  const r = await ollama.chat({
    model, messages: [{ role: 'user', content: c.prompt }], options: { num_predict: c.max_tokens }, stream: false,
  });
  assert.equal(r.model, model);
  assert.equal(r.message.role, 'assistant');
  assert.equal(r.message.content, c.text);
  checkFinal(r, c);
});

test('chat, streamed', async () => {
  const c = testCase('chat');
  const parts = [];
  for await (const part of await ollama.chat({
    model, messages: [{ role: 'user', content: c.prompt }], options: { num_predict: c.max_tokens }, stream: true,
  })) {
    parts.push(part);
  }
  assert.ok(parts.length >= 2);
  const last = parts.at(-1);
  for (const p of parts.slice(0, -1)) {
    assert.equal(p.done, false);
    assert.equal(p.model, model);
    assert.equal(p.message.role, 'assistant');
  }
  assert.equal(parts.map((p) => p.message.content).join(''), c.text);
  checkFinal(last, c);
});

test('generate, streamed and not', async () => {
  const c = testCase('completion');
  const r = await ollama.generate({ model, prompt: c.prompt, options: { num_predict: c.max_tokens }, stream: false });
  assert.equal(r.response, c.text);
  checkFinal(r, c);

  let text = '';
  let last = null;
  for await (const part of await ollama.generate({
    model, prompt: c.prompt, options: { num_predict: c.max_tokens }, stream: true,
  })) {
    text += part.response;
    last = part;
  }
  assert.equal(text, c.text);
  checkFinal(last, c);
});

test('list() has the model', async () => {
  const r = await ollama.list();
  assert.ok(r.models.some((m) => m.name === model && m.model === model), JSON.stringify(r.models));
});

test('an unknown model is a 404 ResponseError', async () => {
  await assert.rejects(ollama.chat({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }), (err) => {
    assert.equal(err.name, 'ResponseError');
    assert.equal(err.status_code, 404);
    assert.match(err.message, /model "no-such-model" not found/);
    return true;
  });
});

test('a failure mid-stream throws', async () => {
  const c = testCase('failing');
  let text = '';
  await assert.rejects(async () => {
    for await (const part of await ollama.chat({
      model, messages: [{ role: 'user', content: c.prompt }], options: { num_predict: c.max_tokens }, stream: true,
    })) {
      text += part.message.content;
    }
  }, /mock provider failure/);
  assert.equal(text, c.text);
});
