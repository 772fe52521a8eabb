// Token logprobs, n: 1 and the audit's end-user fields with the official clients, against both
// upstream kinds: the driver (compat_e2e_test.cpp) starts a fake Ollama and a fake
// OpenAI-compatible server behind one worker and a mock worker, and passes
//   LLMPROXY_LOGPROB_MODELS  a model of each fake: both answer logprobs: true with one entry per
//                            token, logprob -(i+1)/8 for the i-th, the token itself first among
//                            top_logprobs and then "alt1", "alt2", ... each 1 less likely
//                            (src/providers/testing/fake_logprobs.hpp)
// and checks afterwards that the audit kept `user` and `metadata`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { url, model as mockModel, testCase } from './cases.mjs';

const models = JSON.parse(process.env.LLMPROXY_LOGPROB_MODELS ?? '[]');
assert.ok(models.length > 0, 'LLMPROXY_LOGPROB_MODELS is not set: run these tests through compat_e2e_test');

const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 30_000 });
const ollama = new Ollama({ host: `${url}/ollama` });

/// The entries of one answer as the fakes make them, checked against the answer's text.
function checkEntries(entries, text, topK) {
  assert.ok(Array.isArray(entries) && entries.length > 0, 'logprobs for the tokens');
  assert.equal(entries.map((e) => e.token).join(''), text, 'one entry per token, in order');
  entries.forEach((e, i) => {
    assert.equal(e.logprob, -(i + 1) / 8);
    assert.deepEqual(e.bytes, [...Buffer.from(e.token, 'utf8')]);
    const top = e.top_logprobs ?? [];
    assert.equal(top.length, topK);
    top.forEach((alt, k) => {
      assert.equal(alt.token, k === 0 ? e.token : `alt${k}`);
      assert.equal(alt.logprob, e.logprob - k);
    });
  });
}

for (const model of models) {
  test(`openai SDK, ${model}: streamed logprobs assembled by finalChatCompletion()`, async () => {
    const c = testCase('chat');
    const stream = openai.chat.completions.stream({
      model,
      max_tokens: c.max_tokens,
      messages: [{ role: 'user', content: c.prompt }],
      logprobs: true,
      top_logprobs: 2,
    });
    let streamed = '';
    stream.on('content', (delta) => { streamed += delta; });
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices.length, 1);
    const choice = final.choices[0];
    assert.equal(choice.message.content, c.text);
    assert.equal(streamed, c.text);
    checkEntries(choice.logprobs.content, c.text, 2);
  });

  test(`openai SDK, ${model}: a whole reply's choices[0].logprobs, null when not asked`, async () => {
    const c = testCase('chat');
    const messages = [{ role: 'user', content: c.prompt }];
    const whole = await openai.chat.completions.create({ model, max_tokens: c.max_tokens, messages, logprobs: true });
    assert.equal(whole.choices[0].message.content, c.text);
    checkEntries(whole.choices[0].logprobs.content, c.text, 0);
    assert.equal(whole.choices[0].logprobs.refusal, null);
    const plain = await openai.chat.completions.create({ model, max_tokens: c.max_tokens, messages });
    assert.equal(plain.choices[0].logprobs, null);
  });

  test(`ollama client, ${model}: logprobs on the final object, streamed and not`, async () => {
    const c = testCase('chat');
    const request = {
      model,
      messages: [{ role: 'user', content: c.prompt }],
      options: { num_predict: c.max_tokens },
      logprobs: true,
      top_logprobs: 1,
    };
    const whole = await ollama.chat(request);
    assert.equal(whole.message.content, c.text);
    checkEntries(whole.logprobs, c.text, 1);
    let text = '';
    let last;
    for await (const part of await ollama.chat({ ...request, stream: true })) {
      text += part.message.content;
      last = part;
    }
    assert.equal(text, c.text);
    assert.equal(last.done, true);
    checkEntries(last.logprobs, c.text, 1);
  });
}

for (const model of models) {
  test(`native /api/chat, ${model}: logprobs on the whole reply and on the done event`, async () => {
    const c = testCase('chat');
    const body = {
      model,
      messages: [{ role: 'user', content: c.prompt }],
      options: { num_predict: c.max_tokens },
      logprobs: true,
      top_logprobs: 1,
    };
    const whole = await (await fetch(`${url}/api/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...body, stream: false }),
    })).json();
    assert.equal(whole.message.content, c.text);
    checkEntries(whole.logprobs, c.text, 1);
    const sse = await (await fetch(`${url}/api/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    })).text();
    const done = sse.split('\n\n').find((ev) => ev.includes('event: done'));
    assert.ok(done, sse);
    const data = JSON.parse(done.split('\n').find((l) => l.startsWith('data: ')).slice(6));
    checkEntries(data.logprobs, c.text, 1);
  });
}

test('openai SDK: n: 1 is served as one choice (n > 1: choices.test.mjs)', async () => {
  const c = testCase('chat');
  const messages = [{ role: 'user', content: c.prompt }];
  const one = await openai.chat.completions.create({ model: mockModel, max_tokens: c.max_tokens, messages, n: 1 });
  assert.equal(one.choices.length, 1);
  assert.equal(one.choices[0].message.content, c.text);
});

test('openai SDK: user and metadata are accepted (the driver finds them in the audit)', async () => {
  const c = testCase('chat');
  const whole = await openai.chat.completions.create({
    model: mockModel,
    max_tokens: c.max_tokens,
    messages: [{ role: 'user', content: c.prompt }],
    user: 'end-user-17',
    metadata: { team: 'search', ticket: 'LLMP-17' },
  });
  assert.equal(whole.choices[0].message.content, c.text);
});
