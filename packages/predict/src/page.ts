/** GET /: type text, see its entities highlighted by type, tagged through POST /v1/ner. No external assets. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nerflow — named entities</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 52rem; padding: 0 1rem; color: #1d2733; background: #fafbfc; }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; }
  p.sub { margin: 0 0 1rem; color: #5b6775; }
  textarea { width: 100%; box-sizing: border-box; min-height: 7rem; font: inherit; padding: .6rem; border: 1px solid #c5ced8; border-radius: 6px; }
  button { margin-top: .6rem; font: inherit; padding: .4rem 1.2rem; border: 0; border-radius: 6px; background: #2856c7; color: #fff; cursor: pointer; }
  #out { margin-top: 1.2rem; padding: 1rem; background: #fff; border: 1px solid #dde3ea; border-radius: 6px; white-space: pre-wrap; min-height: 2rem; line-height: 2.1; }
  mark { padding: .15rem .3rem; border-radius: 4px; color: #111; }
  mark small { font-size: .65rem; font-weight: 700; text-transform: uppercase; margin-left: .3rem; opacity: .75; }
  #legend span { display: inline-block; margin: .6rem .6rem 0 0; padding: 0 .4rem; border-radius: 4px; font-size: .8rem; }
  #status { color: #5b6775; font-size: .85rem; margin-top: .4rem; min-height: 1.2rem; }
  #status.error { color: #b3261e; }
</style>
</head>
<body>
<h1>nerflow — named entities</h1>
<p class="sub">Type or paste text; entities are tagged by the model behind this server (POST /v1/ner).</p>
<textarea id="text" aria-label="text to tag">Angela Merkel met Emmanuel Macron in Paris on Tuesday to discuss the European Union budget.</textarea>
<button id="go">Tag entities</button>
<div id="status"></div>
<div id="out" aria-live="polite"></div>
<div id="legend"></div>
<script>
const COLORS = { per: '#ffd166', geo: '#8ecae6', gpe: '#b5e48c', org: '#f4a3c4', tim: '#cdb4db', art: '#ffb4a2', eve: '#a0c4ff', nat: '#9be7d8' };
const colorOf = (t) => COLORS[t] || 'hsl(' + ([...t].reduce((h, c) => h * 31 + c.charCodeAt(0), 7) % 360) + ' 70% 80%)';
const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
async function tag() {
  const text = document.getElementById('text').value;
  const status = document.getElementById('status');
  const out = document.getElementById('out');
  status.className = ''; status.textContent = 'tagging…';
  try {
    const res = await fetch('/v1/ner', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text }) });
    const j = await res.json();
    if (!res.ok) { status.className = 'error'; status.textContent = j.message || ('HTTP ' + res.status); out.innerHTML = ''; return; }
    let html = '', at = 0;
    for (const e of j.entities) {
      html += esc(text.slice(at, e.start)) + '<mark data-type="' + esc(e.type) + '" style="background:' + colorOf(e.type) + '" title="' + esc(e.type) + ' ' + e.confidence.toFixed(2) + '">' + esc(text.slice(e.start, e.end)) + '<small>' + esc(e.type) + '</small></mark>';
      at = e.end;
    }
    out.innerHTML = html + esc(text.slice(at));
    const types = [...new Set(j.entities.map((e) => e.type))];
    document.getElementById('legend').innerHTML = types.map((t) => '<span style="background:' + colorOf(t) + '">' + esc(t) + '</span>').join('');
    status.textContent = j.entities.length + ' entit' + (j.entities.length === 1 ? 'y' : 'ies') + ' in ' + j.tokens.length + ' tokens';
  } catch (err) {
    status.className = 'error'; status.textContent = 'request failed: ' + err;
  }
}
document.getElementById('go').addEventListener('click', tag);
document.getElementById('text').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) tag(); });
tag();
</script>
</body>
</html>
`;
