import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WARNINGS_LISTED, runWarningsView, warningCount } from '../../src/ui/device/run-warnings.ts';

test('a run without warnings shows nothing; a few are listed unfolded', () => {
  assert.equal(runWarningsView([]), null);
  assert.deepEqual(runWarningsView(['The device could not send HomeDomain-Library/a: busy']), {
    title: '1 warning',
    listed: ['The device could not send HomeDomain-Library/a: busy'],
    more: 0,
    open: true,
  });
  const five = ['a', 'b', 'c', 'd', 'e'];
  assert.deepEqual(runWarningsView(five), { title: '5 warnings', listed: five, more: 0, open: true });
  assert.equal(runWarningsView([...five, 'f'])!.open, false, 'six start folded: the outcome above stays in view');
});

test('thousands of warnings: the first ones listed in order, the rest counted', () => {
  const many = Array.from({ length: 3000 }, (_, i) => `Could not save ${String(i).padStart(4, '0')}`);
  const view = runWarningsView(many)!;
  assert.equal(view.title, '3000 warnings');
  assert.equal(view.listed.length, WARNINGS_LISTED);
  assert.deepEqual(view.listed, many.slice(0, WARNINGS_LISTED));
  assert.equal(view.more, 3000 - WARNINGS_LISTED);
  assert.equal(view.open, false);
  assert.equal(warningCount(2), '2 warnings');
});
