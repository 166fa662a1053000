// The pure pieces, without a server: the NOTIFY payload parser, durations, MIME matching.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDuration } from '../src/config.ts';
import { parse } from '../src/events/listener.ts';
import { acceptsType } from '../src/rest/mime.ts';

describe('the NOTIFY payload parser', () => {
  test('reads events, their topics, desk events after a tab, room events and large changes', () => {
    const payload = [
      '7 acme new_message 00000000-0000-4000-8000-000000000001 {"a":1}\t{"desk":2}',
      '9 globex.io update_helpdesk 00000000-0000-4000-8000-000000000001 {"b":"x y"}',
      '10 acme payment.updated 00000000-0000-4000-8000-000000000002/payments-42 "any json"',
      '11 acme resync_required - {}',
      '12 acme',
    ].join('\n');
    assert.deepEqual(parse(payload), [
      { position: 7, organization: 'acme', type: 'new_message', topic: '00000000-0000-4000-8000-000000000001', data: '{"a":1}', desk: '{"desk":2}', large: false },
      { position: 9, organization: 'globex.io', type: 'update_helpdesk', topic: '00000000-0000-4000-8000-000000000001', data: '{"b":"x y"}', desk: null, large: false },
      { position: 10, organization: 'acme', type: 'payment.updated', topic: '00000000-0000-4000-8000-000000000002/payments-42', data: '"any json"', desk: null, large: false },
      { position: 11, organization: 'acme', type: 'resync_required', topic: '-', data: '{}', desk: null, large: false },
      { position: 12, organization: 'acme', type: '', topic: '-', data: null, desk: null, large: true },
    ]);
  });

  for (const [what, payload] of [
    ['no position', 'acme new_message - {}'],
    ['a position that is not a number', 'x acme new_message - {}'],
    ['a position past 2^53', '9007199254740993 acme new_message - {}'],
    ['a bad organization', '1 a/b new_message - {}'],
    ['a bad type', '1 acme New-Message - {}'],
    ['no topic (the format before topics)', '1 acme new_message {}'],
    ['desk event data that is not an object', '1 acme new_message 00000000-0000-4000-8000-000000000001 "x"'],
    ['a type and no data', '1 acme new_message 00000000-0000-4000-8000-000000000001'],
    ['one bad line among good ones', '1 acme new_message - {}\nnonsense'],
    ['an empty payload', ''],
  ]) {
    test(`refuses ${what}`, () => assert.equal(parse(payload!), undefined));
  }
});

describe('durations', () => {
  for (const [text, seconds] of [['30s', 30], ['15m', 900], ['24h', 86_400], ['7d', 604_800], [' 1h ', 3600]] as const) {
    test(`${JSON.stringify(text)} is ${seconds} s`, () => assert.equal(parseDuration(text), seconds));
  }
  for (const text of ['0h', '1', 'h', '1.5h', '-1h', '1w', '1 h', '', '1h30m']) {
    test(`${JSON.stringify(text)} is not one`, () => assert.equal(parseDuration(text), undefined));
  }
});

describe('MIME matching', () => {
  const accepted = ['image/*', 'application/pdf', 'text/plain'];
  for (const type of ['image/png', 'IMAGE/PNG', 'image/svg+xml', 'application/pdf', 'text/plain; charset=utf-8']) {
    test(`${type} is accepted`, () => assert.ok(acceptsType(accepted, type)));
  }
  for (const type of ['text/html', 'application/pdfx', 'image', 'image/', '/png', '*/*', 'image/*', '', null, undefined]) {
    test(`${JSON.stringify(type)} is not`, () => assert.ok(!acceptsType(accepted, type)));
  }
});
