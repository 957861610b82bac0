import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { repoRoot } from '@nerflow/core';
import { Predictor } from './predictor.js';
import { createServer } from './serve.js';
import { tinyModelDir } from './test-helpers/tiny-model.js';

// browser globals used inside page callbacks (this file is compiled without the DOM lib)
declare const document: any;
declare const getComputedStyle: any;
declare const Image: any;
type HTMLElement = any;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)`;

test(
  'the page at / tags typed text through the API and highlights entities by type, in real headless Chromium',
  { skip, timeout: 120_000 },
  async () => {
    const predictor = await Predictor.load(await tinyModelDir());
    const app = createServer({ predictor, model: { uri: 'test' }, accessLog: () => undefined });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
      await page.goto(`${address}/`);
      const text = 'President Bush met Iraqi leaders in Baghdad on Monday and flew to London on Tuesday .';
      await page.fill('#text', text);
      const answered = page.waitForResponse(
        (r) => r.url().endsWith('/v1/ner') && r.request().postData()?.includes('Baghdad') === true,
      );
      await page.click('#go');
      const api = (await (await answered).json()) as { entities: { type: string; text: string }[] };
      await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('entit'));
      const marks = await page.$$eval('#out mark', (ms) =>
        ms.map((m) => ({
          type: m.getAttribute('data-type'),
          text: m.firstChild?.textContent,
          bg: getComputedStyle(m).backgroundColor,
        })),
      );
      assert.ok(api.entities.length >= 2, JSON.stringify(api.entities));
      assert.deepEqual(
        marks.map((m) => [m.type, m.text]),
        api.entities.map((e) => [e.type, e.text]),
        'every entity highlighted, by its type',
      );
      const outText = await page.$eval('#out', (el) => (el as HTMLElement).innerText);
      for (const e of api.entities) assert.ok(outText.includes(e.text));
      const colors = new Map(marks.map((m) => [m.type, m.bg]));
      if (colors.size > 1) assert.ok(new Set(colors.values()).size === colors.size, 'one colour per type');
      // an error from the API is shown, not swallowed
      await page.fill('#text', '   ');
      await page.click('#go');
      await page.waitForFunction(() => document.getElementById('status')?.className === 'error');
      assert.match(await page.$eval('#status', (el) => el.textContent ?? ''), /text is empty/);
      await page.fill('#text', text);
      await page.click('#go');
      await page.waitForFunction(() => document.querySelectorAll('#out mark').length > 0);
      const shot = await page.screenshot({ fullPage: true });
      const dir = path.join(repoRoot(), 'runs', 'test-artifacts');
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'serve-page.png'), shot);
      // not blank: the browser decodes its own screenshot; count colours and non-white pixels
      const stats = await page.evaluate(async (b64) => {
        const img = new Image();
        img.src = `data:image/png;base64,${b64}`;
        await img.decode();
        const c = document.createElement('canvas');
        c.width = img.width;
        c.height = img.height;
        const g = c.getContext('2d')!;
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        const seen = new Set<number>();
        let ink = 0;
        for (let i = 0; i < d.length; i += 4) {
          seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
          if (d[i] + d[i + 1] + d[i + 2] < 600) ink++;
        }
        return { colors: seen.size, ink: ink / (d.length / 4), w: c.width, h: c.height };
      }, shot.toString('base64'));
      console.log(
        `page screenshot ${stats.w}×${stats.h}: ${stats.colors} colours, ${(100 * stats.ink).toFixed(1)}% non-white → runs/test-artifacts/serve-page.png`,
      );
      assert.ok(stats.colors > 20 && stats.ink > 0.01, `blank screenshot? ${JSON.stringify(stats)}`);
    } finally {
      await browser.close();
      await app.close();
    }
  },
);
