// Several choices (OpenAI's `n`) with the official openai SDK, through both upstream kinds and
// the mock: the driver (compat_e2e_test.cpp) starts a fake Ollama and a fake OpenAI-compatible
// server behind one worker and a mock worker, and passes
//   LLMPROXY_CHOICE_MODELS  [ollama model, openai model, mock model]
// An OpenAI-compatible upstream is asked for n (the fake answers choice k > 0 as if asked
// "<prompt> #k"); an Ollama-served model and the mock answer with n generations (the same
// answer each here: the fakes and the mock are deterministic). Then the driver checks the audit
// kept every choice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { url, testCase } from './cases.mjs';

const models = JSON.parse(process.env.LLMPROXY_CHOICE_MODELS ?? '[]');
assert.ok(models.length > 0, 'LLMPROXY_CHOICE_MODELS is not set: run these tests through compat_e2e_test');

const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 30_000 });

for (const model of models) {
  test(`openai SDK, ${model}: create({n: 2, stream: true}) streams both choices by index`, async () => {
    const c = testCase('chat');
    const stream = await openai.chat.completions.create({
      model,
      max_tokens: c.max_tokens,
      messages: [{ role: 'user', content: c.prompt }],
      n: 2,
      stream: true,
      stream_options: { include_usage: true },
    });
    const text = ['', ''];
    const roles = [0, 0];
    const finishes = [[], []];
    let usage = null;
    for await (const chunk of stream) {
      if (chunk.usage) {
        usage = chunk.usage;
        assert.equal(chunk.choices.length, 0, 'the usage chunk holds no choice');
        continue;
      }
      assert.equal(chunk.choices.length, 1, 'one choice per chunk, as OpenAI streams n > 1');
      const [choice] = chunk.choices;
      assert.ok(choice.index === 0 || choice.index === 1, `index ${choice.index}`);
      assert.equal(finishes[choice.index].length, 0, 'nothing after a choice finished');
      if (choice.delta.role) {
        roles[choice.index] += 1;
      }
      text[choice.index] += choice.delta.content ?? '';
      if (choice.finish_reason) {
        finishes[choice.index].push(choice.finish_reason);
      }
    }
    assert.deepEqual(roles, [1, 1], 'the role once per choice');
    assert.equal(text[0], c.text);
    assert.ok(text[1].length > 0, 'choice 1 has its own text');
    assert.equal(finishes[0].length, 1, 'one finish chunk for choice 0');
    assert.equal(finishes[1].length, 1, 'one finish chunk for choice 1');
    assert.ok(['stop', 'length'].includes(finishes[0][0]), finishes[0][0]);
    assert.ok(usage, 'the usage chunk');
    assert.equal(usage.completion_tokens, 2 * c.max_tokens, "every choice's tokens");
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  });

  test(`openai SDK, ${model}: .stream({n: 2}).finalChatCompletion() has 2 choices`, async () => {
    const c = testCase('chat');
    const stream = openai.chat.completions.stream({
      model,
      max_tokens: c.max_tokens,
      messages: [{ role: 'user', content: c.prompt }],
      n: 2,
    });
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices.length, 2);
    final.choices.forEach((choice, i) => {
      assert.equal(choice.index, i);
      assert.equal(choice.message.role, 'assistant');
      assert.ok(['stop', 'length'].includes(choice.finish_reason), choice.finish_reason);
      assert.ok(choice.message.content.length > 0);
    });
    assert.equal(final.choices[0].message.content, c.text);
  });

  test(`openai SDK, ${model}: a whole reply with n: 3 holds 3 choices`, async () => {
    const c = testCase('chat');
    const whole = await openai.chat.completions.create({
      model,
      max_tokens: c.max_tokens,
      messages: [{ role: 'user', content: `${c.prompt} three` }],
      n: 3,
    });
    assert.equal(whole.object, 'chat.completion');
    assert.deepEqual(whole.choices.map((ch) => ch.index), [0, 1, 2]);
    for (const choice of whole.choices) {
      assert.equal(choice.message.role, 'assistant');
      assert.ok(choice.message.content.length > 0);
      assert.ok(['stop', 'length'].includes(choice.finish_reason), choice.finish_reason);
    }
    assert.equal(whole.usage.completion_tokens, 3 * c.max_tokens);
  });
}

test('openai SDK: n above 16 and n on /v1/completions are 400s that say why', async () => {
  const c = testCase('chat');
  const model = models[models.length - 1];
  const messages = [{ role: 'user', content: c.prompt }];
  await assert.rejects(openai.chat.completions.create({ model, max_tokens: c.max_tokens, messages, n: 17 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, `a BadRequestError, not ${e}`);
    assert.match(e.message, /n must be an integer from 1 to 16/);
    return true;
  });
  await assert.rejects(openai.completions.create({ model, max_tokens: c.max_tokens, prompt: c.prompt, n: 2 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, `a BadRequestError, not ${e}`);
    assert.match(e.message, /\/v1\/chat\/completions only/);
    return true;
  });
});
